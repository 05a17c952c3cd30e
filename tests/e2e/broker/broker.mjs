// A municipal identity broker for dap's end-to-end tests: the npm package oidc-provider,
// configured like an OIDC broker in front of KOMBIT's Context Handler. Access tokens are
// JWTs (RFC 9068) for the resource `dap` and carry the base64 OIO BPP privilege list in
// `privileges_intermediate` and the NSIS level in `loa`.
//
// Usage: PORT=4011 DAP_CALLBACK=http://127.0.0.1:8080/auth/callback node broker.mjs
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const role = (name) => `http://dap.example/roles/usersystemrole/${name}/1`;
const CVR = { frederikssund: '29189129', koebenhavn: '64942212' };

// One privilege group per organisation (Scope CVR), as the Context Handler sends them.
function privileges(groups) {
  const body = groups
    .map(({ cvr, roles, constraints = [] }) => {
      const privs = roles.map((r) => `<Privilege>${role(r)}</Privilege>`).join('');
      const cons = constraints.map(([n, v]) => `<Constraint Name="${n}">${v}</Constraint>`).join('');
      return `<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:${cvr}">${privs}${cons}</PrivilegeGroup>`;
    })
    .join('');
  const xml = `<?xml version="1.0" encoding="UTF-8"?><bpp:PrivilegeList xmlns:bpp="http://digst.dk/oiosaml/basic_privilege_profile">${body}</bpp:PrivilegeList>`;
  return Buffer.from(xml, 'utf8').toString('base64');
}

const READ = ['laes-oekonomi', 'laes-personale', 'laes-aeldre'];
const ORG_UNIT = 'http://sts.kombit.dk/constraints/orgenhed/1';

// Test users (log in with the account id as user name) and integrator systems.
const subjects = {
  'anna-frederikssund': {
    loa: 'https://data.gov.dk/concept/core/nsis/loa/Substantial',
    groups: [{ cvr: CVR.frederikssund, roles: READ }],
  },
  'it-faellesskab': {
    loa: 'Substantial',
    groups: [
      { cvr: CVR.frederikssund, roles: ['laes-oekonomi'] },
      { cvr: CVR.koebenhavn, roles: ['laes-oekonomi'] },
    ],
  },
  'lav-sikring': {
    loa: 'Low',
    groups: [{ cvr: CVR.frederikssund, roles: READ }],
  },
  'leder-enhed': {
    loa: 'Substantial',
    groups: [
      { cvr: CVR.frederikssund, roles: ['laes-personale'], constraints: [[ORG_UNIT, '0250-org-01,0250-org-03']] },
    ],
  },
  'short-job': {
    loa: 'Substantial',
    groups: [{ cvr: CVR.frederikssund, roles: ['laes-oekonomi'] }],
  },
  'nightly-job': {
    loa: 'Substantial',
    groups: [{ cvr: CVR.frederikssund, roles: ['laes-oekonomi'] }],
  },
};

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'broker-1', alg: 'RS256', use: 'sig' };

const RESOURCE = 'urn:dap:api';
const configuration = {
  jwks: { keys: [jwk] },
  cookies: { keys: ['dap-test-broker-cookie-key'] },
  clients: [
    {
      client_id: 'dap-web',
      client_secret: 'dap-web-secret',
      redirect_uris: [process.env.DAP_CALLBACK],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // Its tokens live two seconds: the expiry test.
      client_id: 'short-job',
      client_secret: 'short-job-secret',
      redirect_uris: [],
      response_types: [],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'nightly-job',
      client_secret: 'nightly-job-secret',
      redirect_uris: [],
      response_types: [],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'dap',
        audience: RESOURCE,
        accessTokenFormat: 'jwt',
        accessTokenTTL: client.clientId === 'short-job' ? 2 : 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // First-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid');
    grant.addResourceScope(RESOURCE, 'dap');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    if (!subjects[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  // The identity facts go into the access token, as the municipal broker does.
  async extraTokenClaims(ctx, token) {
    const id = token.accountId || token.clientId;
    const s = subjects[id];
    if (!s) return undefined;
    return { loa: s.loa, privileges_intermediate: privileges(s.groups) };
  },
  ttl: {
    AccessToken: 600,
    ClientCredentials: (ctx, token, client) => (client.clientId === 'short-job' ? 2 : 600),
    IdToken: 600,
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`broker listening on ${issuer}`);
});

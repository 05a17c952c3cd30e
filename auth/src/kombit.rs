//! The KOMBIT profile: claims as an OIDC broker in front of KOMBIT's Context Handler
//! re-issues them. Privileges come as a base64 OIO BPP privilege list; each privilege
//! group names an organisation by CVR, and grants its privileges there only.

use std::collections::{BTreeMap, BTreeSet};

use dap_schema::{MunicipalityCode, NsisLevel};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    CallerKind, ClaimMapper, ConstraintSet, Constraints, Error, Principal, Result, bpp, roles,
};

/// Claim names of the KOMBIT profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KombitClaims {
    /// Claims that may carry the base64 privilege list, tried in order.
    pub privilege_claims: Vec<String>,
    /// Claims that may carry the NSIS level, tried in order.
    pub loa_claims: Vec<String>,
    /// NSIS level assumed when no level claim is present; `None` refuses such tokens.
    pub default_loa: Option<NsisLevel>,
}

impl Default for KombitClaims {
    fn default() -> Self {
        Self {
            privilege_claims: vec![
                "privileges_intermediate".into(),
                "https://data.gov.dk/model/core/eid/privilegesIntermediate".into(),
                "dk:gov:saml:attribute:Privileges_intermediate".into(),
            ],
            loa_claims: vec![
                "loa".into(),
                "https://data.gov.dk/concept/core/nsis/loa".into(),
                "dk:gov:saml:attribute:AssuranceLevel".into(),
            ],
            default_loa: None,
        }
    }
}

impl ClaimMapper for KombitClaims {
    fn map(&self, issuer: &str, claims: &Map<String, Value>) -> Result<Principal> {
        let subject = crate::claims::subject(claims)?;
        let mut grants: BTreeMap<MunicipalityCode, BTreeSet<String>> = BTreeMap::new();
        // Per municipality and role: the constraint set of each group granting it; an
        // empty set (a group without constraints) means the role is held unrestricted.
        let mut organisations: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut held_under: BTreeMap<MunicipalityCode, BTreeMap<String, Vec<ConstraintSet>>> =
            BTreeMap::new();
        let list = self
            .privilege_claims
            .iter()
            .find_map(|name| claims.get(name).and_then(Value::as_str));
        if let Some(list) = list {
            for group in bpp::decode(list).map_err(|e| Error::Claims(e.to_string()))? {
                let held: BTreeSet<String> = group
                    .privileges
                    .iter()
                    .filter_map(|p| roles::short_name_of_uri(p))
                    .collect();
                // Unconstrained roles per organisation: the key to delegations.
                if group.constraints.is_empty() && !held.is_empty() {
                    organisations
                        .entry(group.cvr.clone())
                        .or_default()
                        .extend(held.iter().cloned());
                }
                // A CVR that is no municipality (a supplier, a region) grants nothing here.
                let Some(municipality) = MunicipalityCode::from_cvr(&group.cvr) else {
                    continue;
                };
                let set = constraint_set(&group.constraints);
                for role in &held {
                    held_under
                        .entry(municipality.clone())
                        .or_default()
                        .entry(role.clone())
                        .or_default()
                        .push(set.clone());
                }
                if !held.is_empty() {
                    grants.entry(municipality).or_default().extend(held);
                }
            }
        }
        let constraints: Constraints = held_under
            .into_iter()
            .map(|(m, roles)| {
                let constrained = roles
                    .into_iter()
                    .filter(|(_, sets)| sets.iter().all(|s| !s.is_empty()))
                    .collect::<BTreeMap<_, _>>();
                (m, constrained)
            })
            .filter(|(_, roles)| !roles.is_empty())
            .collect();
        let stated = self.loa_claims.iter().find_map(|name| {
            claims
                .get(name)
                .filter(|value| !value.is_null())
                .map(|value| (name, value))
        });
        let nsis = match stated
            .map(|(name, value)| crate::claims::assurance(Some(value), name))
            .transpose()?
            .flatten()
        {
            Some(loa) => loa,
            None => self
                .default_loa
                .ok_or_else(|| Error::Claims("the token has no NSIS level claim".into()))?,
        };
        let mut principal = Principal::from_grants(
            subject.to_owned(),
            issuer.to_owned(),
            CallerKind::User,
            grants,
            nsis,
        );
        principal.constraints = constraints;
        principal.organisations = organisations;
        principal.client_id = claims
            .get("azp")
            .or_else(|| claims.get("client_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(principal)
    }
}

/// One group's constraints as a set. Each constraint restricts on its own, so a name
/// given twice admits only the values both occurrences admit (never their union: an
/// unusual list must not widen what it grants).
fn constraint_set(constraints: &[(String, Vec<String>)]) -> ConstraintSet {
    let mut set = ConstraintSet::new();
    for (name, values) in constraints {
        let values: BTreeSet<String> = values.iter().cloned().collect();
        let narrowed = match set.remove(name) {
            Some(earlier) => earlier.intersection(&values).cloned().collect(),
            None => values,
        };
        set.insert(name.clone(), narrowed);
    }
    set
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;

    fn list(groups: &[(&str, &[&str])]) -> String {
        let body: String = groups
            .iter()
            .map(|(cvr, roles)| {
                let privileges: String = roles
                    .iter()
                    .map(|r| format!("<Privilege>{}</Privilege>", roles::role_uri(r)))
                    .collect();
                format!(r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{cvr}">{privileges}</PrivilegeGroup>"#)
            })
            .collect();
        STANDARD.encode(format!(
            r#"<bpp:PrivilegeList xmlns:bpp="http://digst.dk/oiosaml/basic_privilege_profile">{body}</bpp:PrivilegeList>"#
        ))
    }

    fn map(claims: Value) -> Result<Principal> {
        let Value::Object(claims) = claims else {
            return Err(Error::Claims("object".into()));
        };
        KombitClaims::default().map("https://broker.example", &claims)
    }

    #[test]
    fn privilege_groups_become_per_municipality_grants() {
        let p = map(json!({
            "sub": "u1",
            "https://data.gov.dk/concept/core/nsis/loa": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            "dk:gov:saml:attribute:Privileges_intermediate": list(&[
                ("29189129", &["laes-oekonomi"]),          // Frederikssund
                ("64942212", &["laes-borger", "laes-aeldre"]), // København
                ("12345678", &["laes-oekonomi"]),          // not a municipality
            ]),
        }))
        .expect("principal");
        let codes: Vec<&str> = p.municipalities.iter().map(|m| m.as_str()).collect();
        assert_eq!(codes, vec!["0101", "0250"]);
        let code = |c: &str| MunicipalityCode::parse(c).expect("code");
        assert!(p.has_role_in(&code("0250"), "laes-oekonomi"));
        assert!(!p.has_role_in(&code("0101"), "laes-oekonomi"));
        assert!(p.has_role_in(&code("0101"), "laes-aeldre"));
        assert_eq!(p.nsis, NsisLevel::Substantial);
    }

    #[test]
    fn foreign_privileges_and_missing_levels_grant_nothing() {
        let foreign = STANDARD.encode(
            r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile"><PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129"><Privilege>http://other.example/roles/usersystemrole/laes-oekonomi/1</Privilege></PrivilegeGroup></bpp:PrivilegeList>"#,
        );
        let p = map(json!({"sub": "u", "loa": "High", "privileges_intermediate": foreign}))
            .expect("principal");
        assert!(p.municipalities.is_empty() && p.roles.is_empty());
        assert!(
            map(json!({"sub": "u", "privileges_intermediate": list(&[])})).is_err(),
            "no NSIS level"
        );
        // A level claim of another shape is refused, even where a default would apply.
        let lenient = KombitClaims {
            default_loa: Some(NsisLevel::Substantial),
            ..KombitClaims::default()
        };
        // A null claim is absent: the next claim that names a level decides.
        let claims = json!({"sub": "u", "loa": null,
            "https://data.gov.dk/concept/core/nsis/loa": "Low", "privileges_intermediate": list(&[])});
        let claims = claims.as_object().cloned().unwrap_or_default();
        assert_eq!(
            lenient
                .map("https://broker.example", &claims)
                .map(|p| p.nsis)
                .ok(),
            Some(NsisLevel::Low)
        );
        for odd in [json!(["Low"]), json!(3), json!("Medium")] {
            let claims = json!({"sub": "u", "loa": odd, "privileges_intermediate": list(&[])});
            let claims = claims.as_object().cloned().unwrap_or_default();
            assert!(
                lenient.map("https://broker.example", &claims).is_err(),
                "{odd}"
            );
        }
        assert!(
            map(json!({"sub": "u", "loa": "Low", "privileges_intermediate": "!!"})).is_err(),
            "garbage list"
        );
    }
}

#[cfg(test)]
mod properties {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const NAMES: [&str; 2] = ["urn:c:org", "urn:c:kle"];
    const VALUES: [&str; 3] = ["a", "b", "c"];
    const ROLES: [&str; 2] = ["laes-aeldre", roles::SENSITIVE];
    /// Frederikssund (0250) and København (0101).
    const CVRS: [(&str, &str); 2] = [("29189129", "0250"), ("64942212", "0101")];

    type Group = (usize, Vec<usize>, Vec<(usize, Vec<usize>)>);

    fn value(row: usize, name: usize) -> &'static str {
        VALUES[(row / VALUES.len().pow(name as u32)) % VALUES.len()]
    }

    fn xml(groups: &[Group]) -> String {
        let body: String = groups
            .iter()
            .map(|(cvr, roles, constraints)| {
                let privileges: String = roles
                    .iter()
                    .map(|r| format!("<Privilege>{}</Privilege>", roles::role_uri(ROLES[*r])))
                    .collect();
                let constraints: String = constraints
                    .iter()
                    .map(|(n, v)| {
                        let values: Vec<&str> = v.iter().map(|i| VALUES[*i]).collect();
                        format!(r#"<Constraint Name="{}">{}</Constraint>"#, NAMES[*n], values.join(","))
                    })
                    .collect();
                format!(
                    r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{}">{privileges}{constraints}</PrivilegeGroup>"#,
                    CVRS[*cvr].0
                )
            })
            .collect();
        format!(
            r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">{body}</bpp:PrivilegeList>"#
        )
    }

    /// The model: some group of the municipality holds the role, and every one of its
    /// constraints (each on its own, repeated names too) admits the row.
    fn model(groups: &[Group], cvr: usize, role: usize, row: usize) -> bool {
        groups.iter().any(|(c, roles, constraints)| {
            *c == cvr
                && roles.contains(&role)
                && constraints
                    .iter()
                    .all(|(n, v)| v.iter().any(|i| VALUES[*i] == value(row, *n)))
        })
    }

    fn mapped(p: &Principal, cvr: usize, role: usize, row: usize) -> bool {
        let code = MunicipalityCode::parse(CVRS[cvr].1).unwrap_or_else(|e| panic!("{e}"));
        p.has_role_in(&code, ROLES[role])
            && p.constraints_on(&code, ROLES[role]).is_none_or(|sets| {
                sets.iter().any(|set| {
                    set.iter().all(|(name, values)| {
                        NAMES
                            .iter()
                            .position(|n| n == name)
                            .is_some_and(|i| values.contains(value(row, i)))
                    })
                })
            })
    }

    fn group() -> impl Strategy<Value = Group> {
        (
            0..CVRS.len(),
            proptest::collection::vec(0..ROLES.len(), 0..3),
            proptest::collection::vec(
                (
                    0..NAMES.len(),
                    proptest::collection::vec(0..VALUES.len(), 0..3),
                ),
                0..4,
            ),
        )
    }

    proptest! {
        /// The principal admits exactly the rows the privilege list grants: groups
        /// widen each other, constraints within a group (repeated names too) narrow.
        #[test]
        fn the_principal_admits_what_the_list_grants(groups in proptest::collection::vec(group(), 0..4)) {
            let claims = json!({
                "sub": "u", "loa": "High",
                "privileges_intermediate": STANDARD.encode(xml(&groups)),
            });
            let serde_json::Value::Object(claims) = claims else { unreachable!() };
            let p = KombitClaims::default().map("https://broker.example", &claims);
            let p = p.unwrap_or_else(|e| panic!("{e}"));
            for (cvr, (_, code)) in CVRS.iter().enumerate() {
                for (role, name) in ROLES.iter().enumerate() {
                    for row in 0..VALUES.len().pow(NAMES.len() as u32) {
                        prop_assert_eq!(
                            mapped(&p, cvr, role, row),
                            model(&groups, cvr, role, row),
                            "{} {} row {}", code, name, row
                        );
                    }
                }
            }
        }
    }
}

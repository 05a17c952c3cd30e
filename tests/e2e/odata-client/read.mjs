// Reads dap's OData feed with @odata/client (npm), the way a JavaScript integrator would:
// HTTP Basic with a personal access token as the password, the client's own filter
// builder and query options, paging with $top/$skip until a short page, $count.
//
// Usage: node read.mjs <service root> <page size>; the token comes in DAP_PAT.
// Prints one JSON object: {"<case>": {"count": n, "pages": n, "rows": [...]}, ...}.

import { EdmV4, OData } from "@odata/client";

const [serviceEndpoint, pageSizeText] = process.argv.slice(2);
const pageSize = Number(pageSizeText);
const client = OData.New4({
  serviceEndpoint,
  credential: { username: "excel", password: process.env.DAP_PAT },
  // Decimals and 64-bit integers as exact strings: JavaScript numbers are doubles.
  commonHeaders: { Accept: "application/json;odata.metadata=minimal;IEEE754Compatible=true" },
});
const postings = client.getEntitySet("oekonomi_posteringer");
const columns = ["posteringsid", "kommunekode", "bogfoeringsdato", "funktion", "beloeb"];

const cases = {
  // The client's filter builder: typed literals (a number, a text, an Edm.Date).
  builder: () =>
    client
      .newFilter()
      .property("aar")
      .ge(2024)
      .property("art")
      .ne("1.0")
      .property("bogfoeringsdato")
      .ge(EdmV4.Date.from("2024-03-01")),
  // Text functions and date parts, as Power Query writes them.
  functions: () => "(contains(funktion,'22') or endswith(funktion,'07')) and month(bogfoeringsdato) le 9",
  everything: () => undefined,
};

async function read(filter) {
  const rows = [];
  let pages = 0;
  for (;;) {
    let options = client.newOptions().select(columns).orderby("posteringsid", "asc").format("json");
    if (filter !== undefined) options = options.filter(filter);
    const page = await postings.query(options.top(pageSize).skip(rows.length));
    if (!Array.isArray(page)) throw new Error(`not a page: ${JSON.stringify(page)}`);
    rows.push(...page);
    pages += 1;
    if (page.length < pageSize) break;
  }
  // EntitySet.count takes the builder's filters; a filter written as text goes through
  // the client's plain request with $count=true.
  const count =
    typeof filter === "string"
      ? (
          await client.newRequest({
            collection: "oekonomi_posteringer",
            params: client.newOptions().filter(filter).count(true).top(1),
          })
        )["@odata.count"]
      : await postings.count(filter);
  return { count, pages, rows };
}

const out = {};
for (const [name, filter] of Object.entries(cases)) {
  out[name] = await read(filter());
}
process.stdout.write(JSON.stringify(out));

// Validates Jira comment bodies against Atlassian's own ADF JSON Schema.
//
//     node adf_check.mjs DIR
//
// Every `*.json` file under DIR is one request body we send to Jira's "add comment" endpoint,
// `{"body": <ADF document>}` (a bare ADF document is accepted too). The document is validated
// against `json-schema/v1/full.json` of the pinned `@atlaskit/adf-schema` (a draft-04 schema,
// hence `ajv-draft-04`). Prints one line per problem (`FILE: /path message`) and exits 1 if there
// is any, 0 with a count when every document is valid, 3 when the packages are missing
// (`npm ci` in this folder; `.ci/run` does it).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = join(here, "node_modules/@atlaskit/adf-schema/json-schema/v1/full.json");

let Ajv;
let schema;
try {
  Ajv = (await import("ajv-draft-04")).default;
  schema = JSON.parse(readFileSync(schemaPath, "utf8"));
} catch (e) {
  console.error(`the ADF schema or its validator is missing (${e.message}): run \`npm ci\` in ${here}`);
  process.exit(3);
}

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith(".json") ? [path] : [];
  }).sort();
}

const root = process.argv[2];
if (!root) {
  console.error("usage: node adf_check.mjs DIR");
  process.exit(2);
}
// strict: false, because full.json uses keywords ajv does not know in strict mode; allErrors,
// so a document shows every problem at once.
const ajv = new Ajv({ strict: false, allErrors: true });
const validate = ajv.compile(schema);
const all = files(root);
if (all.length === 0) {
  console.error(`no *.json files under ${root}`);
  process.exit(2);
}
let bad = 0;
for (const path of all) {
  const name = relative(root, path);
  const sent = JSON.parse(readFileSync(path, "utf8"));
  const doc = sent && sent.type === "doc" ? sent : sent.body;
  const problems = [];
  if (!validate(doc)) {
    // anyOf over every node type makes ajv report each alternative it tried: keep the deepest
    // paths, and among them drop "type must be one of" (the alternatives that did not apply)
    // unless nothing else is left.
    const errors = validate.errors;
    const deepest = Math.max(...errors.map((e) => e.instancePath.split("/").length));
    let at = errors.filter((e) => e.instancePath.split("/").length === deepest);
    const real = at.filter((e) => !(e.keyword === "enum" && e.instancePath.endsWith("/type")));
    if (real.length) at = real;
    for (const e of at) {
      const params = e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : "";
      problems.push(`${e.instancePath || "/"} ${e.message}${params}`);
    }
  }
  // The schema allows a document without content; Jira refuses an empty comment.
  if (doc && Array.isArray(doc.content) && doc.content.length === 0) {
    problems.push("/content is empty: Jira refuses an empty comment");
  }
  if (problems.length === 0) continue;
  bad += 1;
  for (const p of new Set(problems)) console.log(`${name}: ${p}`);
}
console.error(`${all.length - bad} of ${all.length} ADF documents valid`);
process.exit(bad ? 1 : 0);

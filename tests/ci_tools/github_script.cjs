// Runs the `script:` of an actions/github-script step against an in-memory stand-in of
// the GitHub REST calls the reconciler workflows make (issue comments and issues), the
// way github-script does: the body of an async function of (require, github, context).
// Usage: node github_script.cjs SCRIPT_FILE STATE_FILE
// STATE_FILE holds {"comments": [...], "issues": [...]}; it is written back changed, with
// "calls" listing the REST methods called, in order.
"use strict";
const fs = require("node:fs");

const [scriptFile, stateFile] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
state.calls = [];
let nextId = 1000 + state.comments.length + state.issues.length;
const ok = (data) => ({ status: 200, data });
const bot = { login: "github-actions[bot]", type: "Bot" };

const calls = {
  listComments: async ({ issue_number }) => ok(state.comments.filter((c) => c.issue_number === issue_number)),
  createComment: async ({ issue_number, body }) => {
    const comment = { id: nextId++, issue_number, body, user: bot };
    state.comments.push(comment);
    return ok(comment);
  },
  updateComment: async ({ comment_id, body }) => {
    const comment = state.comments.find((c) => c.id === comment_id);
    if (!comment) throw new Error(`404: no comment ${comment_id}`);
    comment.body = body;
    return ok(comment);
  },
  listForRepo: async ({ labels, state: wanted }) =>
    ok(state.issues.filter((i) => i.state === wanted && labels.split(",").every((l) => i.labels.includes(l)))),
  create: async ({ title, body, labels }) => {
    const issue = { number: nextId++, title, body, labels, state: "open", user: bot };
    state.issues.push(issue);
    return ok(issue);
  },
  update: async ({ issue_number, owner, repo, ...fields }) => {
    const issue = state.issues.find((i) => i.number === issue_number);
    if (!issue) throw new Error(`404: no issue ${issue_number}`);
    Object.assign(issue, fields);
    return ok(issue);
  },
};
const issues = {};
for (const [name, call] of Object.entries(calls)) {
  issues[name] = async (params) => {
    if (params.owner !== "acme" || params.repo !== "purposes") throw new Error(`${name}: wrong repository`);
    state.calls.push(name);
    return call(params);
  };
}
const github = { rest: { issues }, paginate: async (method, params) => (await method(params)).data };
const context = {
  repo: { owner: "acme", repo: "purposes" },
  issue: { owner: "acme", repo: "purposes", number: 7 },
  sha: "0123456789abcdef0123456789abcdef01234567",
  runId: 42,
  serverUrl: "https://github.example",
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
new AsyncFunction("require", "github", "context", fs.readFileSync(scriptFile, "utf8"))(require, github, context)
  .then(() => fs.writeFileSync(stateFile, JSON.stringify(state, null, 2)))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });

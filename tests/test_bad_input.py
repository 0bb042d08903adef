"""The bad-input catalogue: every malformed input ends in exit 1 with a message that names
file:line:column (or the state / plan file) and says what to do; no traceback, no vendor
request, no state change.

Most manifest and configuration cases run in-process through `Workspace.open(dir).desired()`
(the exact path the CLI takes, without the ~0.7 s of a subprocess); a representative set runs
through the real CLI against a sandbox, checking the exit code, the absence of a traceback, the
sandbox's request counter and the state file's bytes. State and plan-file cases always run
through the CLI.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.engine import Workspace
from reconciler.errors import ReconcilerError
from reconciler.providers.registry import providers as provider_registry
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests.conftest import PROVIDERS, CliResult, Project, Sandbox

STATE_BLOCK = "state:\n  backend: local\n  path: state/default.json\n"
HAVE_SUPEROFFICE = "superoffice" in provider_registry()
HAVE_WEBEX = "webex_campaign" in provider_registry()


def config(*vendors: str) -> str:
    """reconciler.yaml with these providers (from the environment, as in the README)."""
    return STATE_BLOCK + "providers:\n" + "".join(PROVIDERS[v] for v in vendors)


# What the environment holds for in-process cases: loopback URLs and dummy tokens.
ENV = {
    "OUTREACH_BASE_URL": "http://127.0.0.1:9/outreach/api/v2", "OUTREACH_TOKEN": "t-outreach",
    "WEBEX_CAMPAIGN_BASE_URL": "http://127.0.0.1:9/webex/v1",
    "WEBEX_CAMPAIGN_TENANT_URL": "http://127.0.0.1:9/webex-tenant/campaignapi/resources/v3",
    "WEBEX_CAMPAIGN_TOKEN": "t-webex",
    "SUPEROFFICE_BASE_URL": "http://127.0.0.1:9/superoffice/Cust12345/api/v1",
    "SUPEROFFICE_TOKEN": "t-superoffice",
}

ONE = """\
outreach:
  call_purposes:
    intro:
      name: Intro
      order: 1
"""


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]  # relative path -> content; "reconciler.yaml" replaces the default
    where: str  # "p.yaml:4:7" (file:line:column of the first diagnostic)
    says: tuple[str, ...]  # key phrases of the message (what is wrong, what to do)
    absent: tuple[str, ...] = ()  # phrases that must not appear (cascading noise)
    vendors: tuple[str, ...] = ("outreach",)
    env: dict[str, str] = field(default_factory=dict)  # added to the environment
    unset: tuple[str, ...] = ()  # removed from the environment

    def param(self) -> object:
        return pytest.param(self, id=self.id)


def p(text: str) -> dict[str, str | bytes]:
    return {"p.yaml": textwrap.dedent(text)}


def cfg(text: str) -> dict[str, str | bytes]:
    """reconciler.yaml replaced by `text`."""
    return {"reconciler.yaml": textwrap.dedent(text), "p.yaml": ONE}


def cfg_extra(text: str) -> dict[str, str | bytes]:
    """The default reconciler.yaml (outreach, 7 lines) followed by `text` (as is) from line 8."""
    return cfg(config("outreach") + text)


MANIFEST_CASES = [
    # --- YAML syntax ---------------------------------------------------------------------
    Case("yaml-unclosed-flow-mapping", p("""\
        outreach:
          call_purposes:
            intro: {name: Intro, order: 1
            other: {name: Other}
        """), "p.yaml:4:10", ("YAML syntax error: did not find expected ',' or '}'",
                             "flow mapping that starts at line 3, column 12", "close the bracket")),
    Case("yaml-colon-in-unquoted-value", p("""\
        outreach:
          call_purposes:
            intro:
              name: Call: first contact
        """), "p.yaml:4:17", ("mapping values are not allowed", "quote the value if it contains ': '")),
    Case("yaml-tab-indentation", {"p.yaml": "outreach:\n  call_purposes:\n    intro:\n\tname: Intro\n"},
         "p.yaml:4:1", ("a tab character; YAML indentation must use spaces",)),
    Case("yaml-unclosed-quote", p("""\
        outreach:
          call_purposes:
            intro:
              name: "Intro
              order: 1
        """), "p.yaml:6:1", ("found unexpected end of stream", "quoted scalar that starts at line 4, "
                             "column 13", "close the quote")),
    Case("yaml-two-documents", p("""\
        outreach:
          call_purposes:
            intro: {name: Intro}
        ---
        outreach: {}
        """), "p.yaml:4:1", ("found another document", "remove the '---' or split the file")),
    Case("yaml-undefined-alias", p("""\
        outreach:
          call_purposes:
            intro: *base
        """), "p.yaml:3:12", ("found undefined alias", "needs an anchor (&name)")),
    Case("yaml-mapping-as-key", p("""\
        outreach:
          call_purposes:
            ? [intro]
            : {name: Intro}
        """), "p.yaml:3:7", ("keys must be plain scalars",)),
    Case("not-utf8", {"p.yaml": "outreach:\n  call_purposes:\n    intro: {name: caf\xe9}\n".encode("latin-1")},
         "p.yaml:3:22", ("not UTF-8 text (byte 0xe9); save the file as UTF-8",)),
    # --- duplicates ------------------------------------------------------------------------
    Case("duplicate-field", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              name: Introduction
        """), "p.yaml:5:7", ("duplicate key 'name' (first defined at line 4); remove one of them",)),
    Case("duplicate-key-in-one-file", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
            intro:
              name: Intro 2
        """), "p.yaml:5:5", ("duplicate key 'intro' (first defined at line 3)",)),
    Case("duplicate-address-across-files", {
        "a.yaml": ONE,
        "sub/b.yaml": "# the same key again\n" + ONE.replace("name: Intro", "name: Intro 2"),
    }, "sub/b.yaml:4:5", ("outreach.call_purpose.intro: declared twice (also at ", "a.yaml:4:7",
                          "keys must be unique per vendor and collection; rename or remove one")),
    Case("duplicate-outreach-name", p("""\
        outreach:
          call_purposes:
            intro:
              name: Same Name
            other:
              name: Same Name
        """), "p.yaml:6:7", ("outreach.call_purpose.other: same name 'Same Name' as "
                             "outreach.call_purpose.intro", "p.yaml:4:7",
                             "give each a different name")),
    # --- unknown names ---------------------------------------------------------------------
    Case("unknown-field-did-you-mean", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              ordr: 1
        """), "p.yaml:5:7", ("call_purposes.intro.ordr: unknown field 'ordr' — did you mean 'order'?",
                             "(allowed: name, order)")),
    Case("unknown-vendor", p("""\
        outreech:
          call_purposes:
            intro: {name: Intro}
        """), "p.yaml:1:1", ("unknown vendor 'outreech' — did you mean 'outreach'?", "(known: ",)),
    Case("unknown-collection", p("""\
        outreach:
          call_purpose:
            intro: {name: Intro}
        """), "p.yaml:2:3", ("outreach: unknown collection 'call_purpose' — did you mean 'call_purposes'?",)),
    Case("ignore-changes-unknown-field", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              ignore_changes: [order, nmae]
        """), "p.yaml:5:31", ("call_purposes.intro.ignore_changes: unknown field 'nmae' — did you mean "
                              "'name'?",)),
    # --- types and ranges ------------------------------------------------------------------
    Case("order-not-an-integer", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              order: first
        """), "p.yaml:5:14", ("call_purposes.intro.order: expected an integer, got 'first'",)),
    Case("order-is-a-float", p("""\
        outreach:
          call_purposes:
            intro: {name: Intro, order: 1.5}
        """), "p.yaml:3:33", ("call_purposes.intro.order: expected an integer, got 1.5",)),
    Case("name-is-a-number", p("""\
        outreach:
          call_purposes:
            intro:
              name: 2024
        """), "p.yaml:4:13", ("call_purposes.intro.name: expected a string, got 2024", 'quote it: "2024"')),
    Case("order-negative", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              order: -1
        """), "p.yaml:5:14", ("call_purposes.intro.order: must be at least 0 (got -1)",)),
    Case("order-over-int32", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              order: 2147483648
        """), "p.yaml:5:14", ("must be at most 2147483647 (got 2147483648)",)),
    Case("outreach-name-over-255", p(f"""\
        outreach:
          call_purposes:
            intro:
              order: 1
              name: {"x" * 256}
        """), "p.yaml:5:13", ("call_purposes.intro.name: must be at most 255 characters (got 256)",)),
    Case("name-empty", p("""\
        outreach:
          call_purposes:
            intro:
              name: ""
        """), "p.yaml:4:13", ("call_purposes.intro.name: must not be empty",)),
    Case("name-missing", p("""\
        outreach:
          call_purposes:
            intro:
              order: 3
        """), "p.yaml:4:7", ("call_purposes.intro.name: required field 'name' is missing",)),
    Case("prevent-destroy-not-boolean", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              prevent_destroy: yes
        """), "p.yaml:5:24", ("call_purposes.intro.prevent_destroy: expected true or false, got 'yes'",)),
    Case("on-delete-the-vendor-cannot-do", p("""\
        outreach:
          call_purposes:
            intro:
              name: Intro
              on_delete: deactivate
        """), "p.yaml:5:18", ("outreach.call_purpose cannot 'deactivate'; the valid value is delete",)),
    # --- variables ---------------------------------------------------------------------------
    Case("undefined-variable", {**p("""\
        outreach:
          call_purposes:
            intro:
              name: ${NOPE}
        """), "reconciler.yaml": config("outreach") + "variables: [NOPE]\n"}, "p.yaml:4:13", ("environment variable NOPE is not set; set it, or give a default with "
                              "${NOPE:-value}",), absent=("must not be empty",)),
    Case("undefined-variable-inside-text", {**p("""\
        outreach:
          call_purposes:
            intro: {name: "Intro ${TEAM_NAME}", order: 1}
        """), "reconciler.yaml": config("outreach") + "variables: [TEAM_NAME]\n"}, "p.yaml:3:19",
         ("environment variable TEAM_NAME is not set",)),
    Case("undeclared-variable", p("""\
        outreach:
          call_purposes:
            intro: {name: "leak ${OUTREACH_TOKEN}", order: 1}
        """), "p.yaml:3:19", ("${OUTREACH_TOKEN}: not a declared variable; manifests may only use "
                              "the variables listed under variables: in reconciler.yaml",),
         absent=("t-outreach",)),
    # --- structure ---------------------------------------------------------------------------
    Case("invalid-key-with-space", p("""\
        outreach:
          call_purposes:
            Initial Contact:
              name: Initial Contact
        """), "p.yaml:3:5", ("call_purposes.Initial Contact: invalid key; use lower-case letters, "
                             "digits, '_' and '-'",)),
    Case("invalid-key-upper-case", p("""\
        outreach:
          call_purposes:
            firstCall: {name: First call}
        """), "p.yaml:3:5", ("call_purposes.firstCall: invalid key",)),
    Case("empty-file", {"p.yaml": ""}, "p.yaml:1:1",
         ("file is empty; declare something in it or delete it",)),
    Case("comments-only-file", {"p.yaml": "# nothing here yet\n"}, "p.yaml:1:1", ("file is empty",)),
    Case("top-level-list", p("""\
        - outreach
        - call_purposes
        """), "p.yaml:1:1", ("expected a mapping of vendor names (outreach:, webex_campaign:, "
                             "superoffice:) at the top of the file",)),
    Case("collection-as-list", p("""\
        outreach:
          call_purposes:
            - name: Intro
        """), "p.yaml:3:5", ("outreach.call_purposes: expected a mapping of keys to objects",)),
    Case("object-as-scalar", p("""\
        outreach:
          call_purposes:
            intro: Intro
        """), "p.yaml:3:12", ("call_purposes.intro: expected a mapping of fields",)),
    # --- reconciler.yaml -------------------------------------------------------------------
    Case("config-empty", {"reconciler.yaml": "", "p.yaml": ONE}, "reconciler.yaml:1:1",
         ("reconciler.yaml is empty; declare at least one vendor under providers:",)),
    Case("config-a-list", cfg("""\
        - outreach
        """), "reconciler.yaml:1:1", ("expected a mapping with providers: (and optionally state:)",)),
    Case("config-bad-indentation", cfg("""\
        providers:
          outreach:
            base_url: ${OUTREACH_BASE_URL}
           token: ${OUTREACH_TOKEN}
        """), "reconciler.yaml:4:4", ("YAML syntax error: did not find expected key (while parsing a block "
                                      "mapping that starts at line 2, column 3)", "check the indentation")),
    Case("config-unknown-top-level-field", cfg_extra("provider:\n  outreach: {}\n"), "reconciler.yaml:8:1", ("provider: unknown field 'provider' — did you mean 'providers'?",)),
    Case("config-unknown-provider-setting", cfg_extra("    concurency: 4\n"), "reconciler.yaml:8:5", ("providers.outreach.concurency: unknown field 'concurency' — did you "
                                      "mean 'concurrency'?",)),
    Case("config-unknown-vendor", cfg_extra("  outreech:\n    token: x\n"), "reconciler.yaml:8:3", ("providers: unknown vendor 'outreech' — did you mean 'outreach'?",)),
    Case("config-bad-state-backend", cfg(config("outreach").replace("backend: local", "backend: s3")),
         "reconciler.yaml:2:12", ("state.backend: expected one of 'local' or 'postgres', got 's3'",)),
    Case("config-postgres-without-url", cfg(config("outreach").replace("backend: local", "backend: postgres")),
         "reconciler.yaml:2:3", ("state.url: required with backend: postgres",)),
    Case("config-concurrency-zero", cfg_extra("    concurrency: 0\n"), "reconciler.yaml:8:18", ("providers.outreach.concurrency: must be at least 1 (got 0)",)),
    Case("config-page-size-over-limit", cfg_extra("    page_size: 5000\n"), "reconciler.yaml:8:16", ("providers.outreach.page_size: must be at most 1000 (got 5000)",)),
    Case("config-timeout-not-a-number", cfg_extra("    timeout_s: soon\n"), "reconciler.yaml:8:16", ("providers.outreach.timeout_s: expected a number, got 'soon'",)),
    Case("config-base-url-not-http", cfg(config("outreach")), "reconciler.yaml:6:15",
         ("providers.outreach.base_url: 'ftp://api.outreach.io/api/v2' is not an http(s) URL; write it as "
          "https://host/path",), env={"OUTREACH_BASE_URL": "ftp://api.outreach.io/api/v2"}),
    Case("config-base-url-without-scheme", cfg(config("outreach")), "reconciler.yaml:6:15",
         ("'api.outreach.io/api/v2' is not an http(s) URL",), env={"OUTREACH_BASE_URL": "api.outreach.io/api/v2"}),
    Case("config-plain-http-to-remote-host", cfg(config("outreach")), "reconciler.yaml:6:15",
         ("providers.outreach.base_url: refusing plain http:// to api.example.invalid; use https://, or set "
          "allow_insecure_http: true",), env={"OUTREACH_BASE_URL": "http://api.example.invalid/api/v2"}),
    Case("config-token-variable-unset", cfg(config("outreach")), "reconciler.yaml:7:12",
         ("environment variable OUTREACH_TOKEN is not set",), unset=("OUTREACH_TOKEN",)),
    Case("config-ignore-changes-unknown-collection", cfg_extra("    ignore_changes: {call_purpose: [order]}\n"), "reconciler.yaml:8:22", ("providers.outreach.ignore_changes: unknown collection 'call_purpose' — "
                                       "did you mean 'call_purposes'?",)),
    Case("config-ignore-changes-unknown-field", cfg_extra("    ignore_changes:\n      call_purposes: [ordre]\n"), "reconciler.yaml:9:23", ("providers.outreach.ignore_changes.call_purposes: unknown field "
                                       "'ordre' — did you mean 'order'?",)),
    Case("config-several-mistakes-together", cfg_extra("    concurency: 4\n    page_size: lots\n"),
         "reconciler.yaml:7:12", ("reconciler.yaml:7:12: environment variable OUTREACH_TOKEN is not set",
                                  "reconciler.yaml:8:5: providers.outreach.concurency: unknown field",
                                  "reconciler.yaml:9:16: providers.outreach.page_size: expected an integer"),
         absent=("providers.outreach.token",), unset=("OUTREACH_TOKEN",)),
    Case("config-duplicate-setting", cfg_extra("    token: again\n"), "reconciler.yaml:8:5", ("duplicate key 'token' (first defined at line 7)",)),
    Case("vendor-not-configured", {"reconciler.yaml": config("outreach"), "p.yaml": textwrap.dedent("""\
        superoffice:
          consent_purposes:
            newsletter: {name: Newsletter}
        """)}, "p.yaml:1:1", ("superoffice: not configured; add it under providers: in reconciler.yaml",)),
]

if HAVE_SUPEROFFICE:
    MANIFEST_CASES += [
        Case("superoffice-privacy-url-not-http", {"reconciler.yaml": config("superoffice"), "p.yaml": textwrap.dedent("""\
            superoffice:
              consent_purposes:
                emarketing:
                  name: E-marketing
                  privacy_statement_url: ftp://example.com/privacy
            """)}, "p.yaml:5:30", ("consent_purposes.emarketing.privacy_statement_url: must be an http(s) URL",),
            vendors=("superoffice",)),
        Case("superoffice-duplicate-key", {"reconciler.yaml": config("superoffice"), "p.yaml": textwrap.dedent("""\
            superoffice:
              consent_purposes:
                emarketing: {name: E-marketing, key: "#Emarketing"}
                newsletter: {name: Newsletter, key: "#Emarketing"}
            """)}, "p.yaml:4:17", ("superoffice.consent_purpose.newsletter: same key",
                                   "superoffice.consent_purpose.emarketing"), vendors=("superoffice",)),
        Case("superoffice-rank-not-integer", {"reconciler.yaml": config("superoffice"), "p.yaml": textwrap.dedent("""\
            superoffice:
              consent_purposes:
                emarketing:
                  name: E-marketing
                  rank: high
            """)}, "p.yaml:5:13", ("consent_purposes.emarketing.rank: expected an integer, got 'high'",),
            vendors=("superoffice",)),
        Case("superoffice-auth-credential-missing", cfg_extra(
            "  superoffice:\n"
            "    base_url: ${SUPEROFFICE_BASE_URL}\n"
            "    auth: soticket\n"
            "    ticket: ${SUPEROFFICE_TICKET:-}\n"
            "    app_token: ${SUPEROFFICE_APP_TOKEN:-}\n"), "reconciler.yaml:11:13", (
            "providers.superoffice.ticket: required with auth: soticket (which needs ticket and app_token)",
        )),
    ]

if HAVE_WEBEX:
    WEBEX = ("webex_campaign",)
    MANIFEST_CASES += [
        Case("webex-tenant-url-plain-http", {"reconciler.yaml": config(*WEBEX), "p.yaml": "# nothing yet\n"},
             "reconciler.yaml:7:17", ("providers.webex_campaign.tenant_url: refusing plain http:// to "
                                      "tenant.example.invalid",),
             vendors=WEBEX, env={"WEBEX_CAMPAIGN_TENANT_URL": "http://tenant.example.invalid/campaignapi/resources/v3"}),
        Case("webex-duplicate-purpose-name", p("""\
            webex_campaign:
              purposes:
                marketing: {name: Marketing_Purpose}
                promotions: {name: Marketing_Purpose, group: PROMO}
            """), "p.yaml:4:17", ("webex_campaign.purpose.promotions: same name 'Marketing_Purpose' as "
                                  "webex_campaign.purpose.marketing",), vendors=WEBEX),
        Case("webex-blank-purpose-name", p("""\
            webex_campaign:
              purposes:
                marketing:
                  name: "   "
            """), "p.yaml:4:13", ("purposes.marketing.name: must not be blank",), vendors=WEBEX),
        Case("webex-datastore-id-unquoted", p("""\
            webex_campaign:
              datastore_records:
                seed:
                  datastore_id: 1466
                  feed_id: "1499"
                  records:
                    - {msisdn: "+442332223424", firstname: John}
            """), "p.yaml:4:21", ('datastore_records.seed.datastore_id: expected a string, got 1466 '
                                  '(quote it: "1466")',), vendors=WEBEX),
        Case("webex-phone-number-unquoted", p("""\
            webex_campaign:
              datastore_records:
                seed:
                  datastore_id: "1466"
                  feed_id: "1499"
                  records:
                    - {msisdn: +442332223424, firstname: John}
            """), "p.yaml:7:20", ("datastore_records.seed.records.0.msisdn: expected a string",
                                  'quote it: "+442332223424"'), vendors=WEBEX),
        Case("webex-records-over-max-records", {
            "reconciler.yaml": config(*WEBEX) + "    max_records: 1\n", "p.yaml": textwrap.dedent("""\
            webex_campaign:
              datastore_records:
                seed:
                  datastore_id: "1466"
                  feed_id: "1499"
                  records:
                    - {msisdn: "+442332223424", firstname: John}
                    - {msisdn: "+442332223425", firstname: Jane}
            """)}, "p.yaml:4:7", ("datastore_records.seed: ", "2 records, more than "
                                  "providers.webex_campaign.max_records (1); split them into several entries "
                                  "or raise the limit"), vendors=WEBEX),
        Case("webex-no-records", p("""\
            webex_campaign:
              datastore_records:
                seed: {datastore_id: "1466", feed_id: "1499", records: []}
            """), "p.yaml:3:60", ("datastore_records.seed.records: must not be empty",),
             vendors=WEBEX),
    ]


def write_project(root: Path, case: Case) -> None:
    files = {"reconciler.yaml": config(*case.vendors), **case.files}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())


def position(root: Path, where: str) -> str:
    """`p.yaml:4:7` -> the prefix the loader prints: the file as shown, then `:4:7: `."""
    return f"{Path(os.path.realpath(root)) / where}: "


def case_env(case: Case) -> dict[str, str]:
    return {k: v for k, v in {**ENV, **case.env}.items() if k not in case.unset}


def load_in_process(root: Path, case: Case) -> str:
    env = case_env(case)
    with pytest.raises(ReconcilerError) as caught:
        Workspace.open(root, env=env).desired(env)
    assert caught.value.exit_code == 1
    return str(caught.value)


@pytest.mark.parametrize("case", [c.param() for c in MANIFEST_CASES])
def test_manifest_catalogue(case: Case, tmp_path: Path) -> None:
    write_project(tmp_path, case)
    message = load_in_process(tmp_path, case)
    first = message.splitlines()[0]
    assert first.startswith(position(tmp_path, case.where)), message
    for phrase in case.says:
        assert phrase in message, message
    for phrase in case.absent:
        assert phrase not in message, message


def test_there_are_at_least_thirty_cases() -> None:
    assert len(MANIFEST_CASES) >= 30


def test_good_input_next_to_the_bad_loads(tmp_path: Path) -> None:
    """The fixes that clarified messages keep valid input valid: a YAML list for ignore_changes
    (strict mode once refused it as "not a valid tuple"), ${VAR:-default}, `$$`, plain http:// to
    loopback, https:// anywhere, and http:// elsewhere with allow_insecure_http."""
    case = Case("good", {
        "reconciler.yaml": "variables: [TEAM]\n" + config("outreach")
                           + "    ignore_changes: {call_purposes: [order]}\n",
        "p.yaml": textwrap.dedent("""\
            outreach:
              call_purposes:
                intro:
                  name: ${TEAM:-Sales} intro $$5
                  order: 1
                  ignore_changes: [order]
                  prevent_destroy: true
            """)}, "", ())
    write_project(tmp_path, case)
    for base_url, extra in [(ENV["OUTREACH_BASE_URL"], ""), ("https://api.outreach.io/api/v2", ""),
                            ("http://outreach.internal/api/v2", "    allow_insecure_http: true\n")]:
        env = {**ENV, "OUTREACH_BASE_URL": base_url}
        (tmp_path / "reconciler.yaml").write_text(str(case.files["reconciler.yaml"]) + extra)
        desired = Workspace.open(tmp_path, env=env).desired(env)
        intro = desired.objects["outreach.call_purpose.intro"]
        assert intro.attributes == {"name": "Sales intro $5", "order": 1}
        assert intro.lifecycle.ignore_changes == ("order",) and intro.lifecycle.prevent_destroy


def test_offline_commands_need_no_credentials(tmp_path: Path) -> None:
    """state list/show/rm and force-unlock open the workspace offline: an unset credential is
    not an error there, nor the empty or invalid value it leaves (Webex's token has a minimum
    length, SuperOffice's a validator)."""
    vendors = tuple(provider_registry())
    (tmp_path / "reconciler.yaml").write_text(config(*vendors))
    settings = Workspace.open(tmp_path, env={}, offline=True).settings
    assert settings.state_path == (tmp_path / "state" / "default.json").resolve()
    with pytest.raises(ReconcilerError) as caught:
        Workspace.open(tmp_path, env={})
    message = str(caught.value)
    assert "environment variable OUTREACH_TOKEN is not set" in message
    assert "must not be empty" not in message and "not an http(s) URL" not in message


# --- through the real CLI ------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    settings = SandboxSettings(data_dir=tmp_path_factory.mktemp("bad-input-sandbox"), superoffice_builtins=False)
    with RunningSandbox(settings) as running:
        yield Sandbox(running)


SEEDED_STATE = json.dumps({
    "version": 1, "lineage": "0b6f5f8e-0000-4000-8000-00000000bad1", "serial": 4,
    "resources": {"outreach.call_purpose.intro": {
        "vendor": "outreach", "kind": "call_purpose", "remote_id": "1",
        "attributes": {"name": "Intro", "order": 1}, "meta": {}, "prevent_destroy": False}},
    "pending": {},
}, indent=1)


class Guard:
    """Snapshots what a failing command must leave alone: the state dir and the sandbox counters."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.state_dir = project.root / "state"
        self.before = self.snapshot()
        self.requests = sum(project.sandbox.requests().values())

    def snapshot(self) -> dict[str, bytes]:
        if not self.state_dir.exists():
            return {}
        return {str(p.relative_to(self.state_dir)): p.read_bytes()
                for p in sorted(self.state_dir.rglob("*")) if p.is_file()}

    def check(self, result: CliResult) -> None:
        assert result.code == 1, result.text
        assert "Traceback" not in result.text, result.text
        assert result.err.startswith("Error: "), result.text
        assert sum(self.project.sandbox.requests().values()) == self.requests, "a vendor request was sent"
        assert self.snapshot() == self.before, "the state directory changed"


def cli_project(tmp_path: Path, sandbox: Sandbox, case: Case | None = None, seed_state: bool = True) -> Project:
    root = tmp_path / "manifests"
    root.mkdir()
    project = Project(root, sandbox)
    if case is not None:
        write_project(root, case)
    else:
        project.configure()
        project.write("p.yaml", ONE)
    if seed_state:
        (root / "state").mkdir(exist_ok=True)
        (root / "state" / "default.json").write_text(SEEDED_STATE)
    return project


CLI_CASES = {"yaml-tab-indentation", "duplicate-address-across-files",
             "duplicate-outreach-name", "unknown-field-did-you-mean", "outreach-name-over-255",
             "undefined-variable", "invalid-key-with-space", "config-empty",
             "config-base-url-not-http", "config-plain-http-to-remote-host", "superoffice-duplicate-key",
             "webex-phone-number-unquoted"}


@pytest.mark.parametrize("case", [c.param() for c in MANIFEST_CASES if c.id in CLI_CASES])
def test_manifest_catalogue_through_the_cli(case: Case, tmp_path: Path, shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox, case)
    guard = Guard(project)
    assert not case.unset, "run_cli cannot unset a variable the sandbox sets"
    result = project.cli("plan", str(project.root), env=case.env)
    guard.check(result)
    assert result.err.startswith("Error: " + position(project.root, case.where)), result.err
    for phrase in case.says:
        assert phrase in result.err, result.err
    for phrase in case.absent:
        assert phrase not in result.err, result.err


def test_missing_reconciler_yaml(tmp_path: Path, shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    (project.root / "reconciler.yaml").unlink()
    guard = Guard(project)
    result = project.cli("plan", str(project.root))
    guard.check(result)
    assert f"{project.root / 'reconciler.yaml'}: not found; create it" in result.err
    assert "pass the directory that holds it" in result.err


def test_missing_directory(tmp_path: Path, shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    guard = Guard(project)
    result = project.cli("validate", str(project.root / "nowhere"))
    guard.check(result)
    assert f"{project.root / 'nowhere'}: not a directory; pass the manifest directory" in result.err


def test_several_mistakes_in_two_files_are_reported_together_in_order(tmp_path: Path,
                                                                     shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    project.write("b.yaml", """\
        outreach:
          call_purposes:
            Bad Key: {name: B}
        """)
    project.write("a.yaml", """\
        outreach:
          call_purposes:
            first:
              name: First
              colour: red
            second:
              name: Second
              order: soon
        """)
    guard = Guard(project)
    result = project.cli("plan", str(project.root))
    guard.check(result)
    lines = result.err.removeprefix("Error: ").splitlines()
    root = os.path.realpath(project.root) + "/"
    assert lines == [
        f"{root}a.yaml:5:7: call_purposes.first.colour: unknown field 'colour' (allowed: name, order)",
        f"{root}a.yaml:8:14: call_purposes.second.order: expected an integer, got 'soon'",
        f"{root}b.yaml:3:5: call_purposes.Bad Key: invalid key; use lower-case letters, digits, '_' and '-', "
        "starting with a letter or digit",
    ]


# --- state files ---------------------------------------------------------------------------

STATE_CASES = [
    pytest.param(SEEDED_STATE.replace('"serial": 4', '"serial": 4,,'), "not valid JSON (line 4, column 14)",
                 "the file is corrupt or truncated; restore it from", id="state-corrupt"),
    pytest.param(SEEDED_STATE[: len(SEEDED_STATE) // 2], "not valid JSON",
                 "the file is corrupt or truncated; restore it from", id="state-truncated"),
    pytest.param("", "not valid JSON (line 1, column 1)", "corrupt or truncated", id="state-empty-file"),
    pytest.param(SEEDED_STATE.replace('"version": 1', '"version": 99'),
                 "written by a newer reconciler (state format 99, this one reads up to 1)", "upgrade reconciler",
                 id="state-newer-version"),
    pytest.param("[]", "not a reconciler state document", "restore it from", id="state-not-an-object"),
    pytest.param(SEEDED_STATE.replace('"remote_id": "1"', '"remote_id": {"id": 1}'),
                 "invalid state document at resources.outreach.call_purpose.intro.remote_id", "restore it from",
                 id="state-wrong-type"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "not a state file (it is not UTF-8 text)", "restore it from",
                 id="state-binary"),
]


@pytest.mark.parametrize(("text", "problem", "remedy"), STATE_CASES)
def test_bad_state_file(text: str | bytes, problem: str, remedy: str, tmp_path: Path,
                        shared_sandbox: Sandbox, request: pytest.FixtureRequest) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    state = project.root / "state" / "default.json"
    state.write_bytes(text if isinstance(text, bytes) else text.encode())
    guard = Guard(project)
    # plan for every case; drift and apply (which takes the lock first, so its lock files may
    # appear, but the state itself must stay as it was) for one case each.
    commands = [("plan", str(project.root))]
    if request.node.callspec.id == "state-corrupt":
        commands.append(("drift", str(project.root)))
    if request.node.callspec.id == "state-newer-version":
        commands.append(("apply", str(project.root), "--auto-approve"))
    for command in commands:
        result = project.cli(*command)
        if command[0] == "apply":
            guard.before.update({k: v for k, v in guard.snapshot().items() if ".lock" in k})
        guard.check(result)
        assert result.err.startswith(f"Error: {state}: {problem}"), result.err
        assert remedy in result.err, result.err


def test_damaged_journal(tmp_path: Path, shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    journal = project.root / "state" / "default.json.journal"
    journal.write_text('{"lineage": "0b6f5f8e-0000-4000-8000-00000000bad1"}\n{"serial": 9, "op": "put"}\n')
    guard = Guard(project)
    result = project.cli("plan", str(project.root))
    guard.check(result)
    assert result.err.startswith(f"Error: {journal}: line 2 is not a valid journal entry"), result.err
    assert "move it aside" in result.err


def test_state_path_is_a_directory(tmp_path: Path, shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox, seed_state=False)
    (project.root / "state" / "default.json").mkdir(parents=True)
    guard = Guard(project)
    result = project.cli("state", "list", str(project.root))
    guard.check(result)
    assert f"{project.root / 'state' / 'default.json'}: not a regular file (a directory" in result.err
    assert "state.path in reconciler.yaml must name a regular file" in result.err


# --- plan files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory, shared_sandbox: Sandbox) -> dict[str, object]:
    """A real plan (against the seeded state), saved once and copied into each test."""
    project = cli_project(tmp_path_factory.mktemp("saved-plan"), shared_sandbox)
    out = project.root.parent / "plan.json"
    result = project.cli("plan", str(project.root), "--out", str(out))
    assert result.code == 0, result.text
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _edit_name(plan: dict[str, object]) -> str:
    edited = json.loads(json.dumps(plan))
    edited["changes"][0]["attributes"]["name"] = "Sneaky"
    return json.dumps(edited, indent=1)


def _newer(plan: dict[str, object]) -> str:
    return json.dumps({**plan, "format_version": 99}, indent=1)


def _without_changes(plan: dict[str, object]) -> str:
    return json.dumps({k: v for k, v in plan.items() if k != "changes"})


PLAN_CASES = [
    pytest.param(_edit_name, "the plan file was modified after it was made (its checksum does not match)",
                 "make a new plan instead of editing one", id="plan-edited-by-hand"),
    pytest.param(lambda plan: "this is not a plan\n", "not a plan file (invalid JSON at line 1, column 1)",
                 "make a new one with `reconciler plan --out`", id="plan-not-json"),
    pytest.param(lambda plan: json.dumps(plan)[:200], "not a plan file (invalid JSON",
                 "reconciler plan --out", id="plan-truncated"),
    pytest.param(lambda plan: '{"name": "package.json", "version": "1.0.0"}',
                 "not a reconciler plan file", "make one with `reconciler plan --out`", id="plan-random-json"),
    pytest.param(_without_changes, "the plan file is damaged (field 'changes' is missing)",
                 "make a new one with `reconciler plan --out`", id="plan-missing-field"),
    pytest.param(_newer, "made by a newer reconciler (plan format 99, this one reads up to 1)",
                 "make a new plan", id="plan-newer-format"),
]


@pytest.mark.parametrize(("make", "problem", "remedy"), PLAN_CASES)
def test_bad_plan_file(make: object, problem: str, remedy: str, saved_plan: dict[str, object], tmp_path: Path,
                       shared_sandbox: Sandbox) -> None:
    project = cli_project(tmp_path, shared_sandbox)
    plan = json.loads(json.dumps(saved_plan))
    plan["directory"] = str(project.root)
    plan_file = tmp_path / "plan.json"
    assert callable(make)
    plan_file.write_text(make(plan))
    guard = Guard(project)
    result = project.cli("apply", str(plan_file))
    guard.check(result)
    assert result.err.startswith(f"Error: {plan_file}: {problem}"), result.err
    assert remedy in result.err, result.err

"""How closely fakejira's answers match real Jira, endpoint by endpoint.

    /work/venv/bin/python bench/conformance.py [--shared PATH] [--fixtures-only] [--details]

Two checks per endpoint, each printed as a table:
1. Real payloads: fakejira's JSON is compared key by key (names and JSON types,
   `fakejira.shapes`) with real captured payloads, the anonymised copies in
   tests/fixtures/jira/ (the same cases test_fakejira.py asserts).
2. OpenAPI: the same JSON is validated against the response schema of Atlassian's
   official specs (Cloud v3, Data Center 10.3), read from ../shared/jira-fixtures/
   openapi/. The specs are Atlassian's, so they are read in place and this script is
   not part of the test suite. OpenAPI `nullable` is mapped to JSON Schema nulls.

Not a test: it only reports. Exit status 0 whatever it finds.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakejira import FakeJira  # noqa: E402
from fakejira.shapes import ShapeReport, compare  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "jira"
DEFAULT_SHARED = ROOT.parent / "shared" / "jira-fixtures"


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def rich_issue(fj: FakeJira) -> str:
    """A generated issue with comments and attachments (best for shape checks)."""
    ds = fj.dataset
    for i in range(1, ds.n + 1):
        iss = ds.issue(i)
        if iss and iss.comments and iss.attachments and iss.assignee is not None:
            return iss.key
    return f"{ds.project}-1"


class Session:
    """One running fakejira and an authenticated httpx client for it."""

    def __init__(self, mode: str):
        self.fj = FakeJira(mode=mode, issues=120, seed=3).start()
        self.http = httpx.Client(base_url=self.fj.api_url, headers=self.fj.auth_headers())
        self.key = rich_issue(self.fj)
        iss = self.fj.dataset.issue(self.key)
        self.att_id = iss.attachments[0].id

    def get(self, path: str, **params):
        return self.http.get(path, params=params or None)

    def close(self):
        self.http.close()
        self.fj.stop()


def cases(sessions: dict[str, Session]):
    """(name, spec, spec path, method, fake JSON, real fixture JSON or None)."""
    c, d = sessions["cloud"], sessions["datacenter"]
    out = []

    def add(name, spec, spath, method, response, real, pick=None):
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response.text
        )
        fake = pick(body) if pick else body
        out.append((name, spec, spath, method, response.status_code, body, fake, real))

    add("cloud serverInfo", "cloud", "/rest/api/3/serverInfo", "get",
        c.get("/rest/api/2/serverInfo"), load("serverinfo_cloud.json"))  # fmt: skip
    add("dc serverInfo", "dc", "/api/2/serverInfo", "get",
        d.get("/rest/api/2/serverInfo"), load("serverinfo_server.json"))  # fmt: skip
    add("cloud myself v3", "cloud", "/rest/api/3/myself", "get",
        c.get("/rest/api/3/myself", expand="groups,applicationRoles"), load("myself_cloud.json"))  # fmt: skip
    add("dc myself v2", "dc", "/api/2/myself", "get",
        d.get("/rest/api/2/myself", expand="groups,applicationRoles"), load("myself_dc.json"))  # fmt: skip
    add("cloud project", "cloud", "/rest/api/3/project/{projectIdOrKey}", "get",
        c.get("/rest/api/3/project/DEMO"), None)  # fmt: skip
    add("dc project", "dc", "/api/2/project/{projectIdOrKey}", "get",
        d.get("/rest/api/2/project/DEMO"), None)  # fmt: skip
    add("cloud search/jql *all", "cloud", "/rest/api/3/search/jql", "get",
        c.get("/rest/api/3/search/jql", jql="project = DEMO", fields="*all", maxResults=2),
        load("search_v3_cloud_issues.json"), pick=lambda b: {"issues": b.get("issues")})  # fmt: skip
    add("cloud search/jql page keys", "cloud", "/rest/api/3/search/jql", "get",
        c.get("/rest/api/3/search/jql", jql="project = DEMO", fields="summary,status,labels,assignee,"
              "reporter,priority,issuetype,resolution,created,updated,watches", maxResults=3),
        load("search_jql_hand_trimmed.json"))  # fmt: skip
    add("dc search v2", "dc", "/api/2/search", "get",
        d.get("/rest/api/2/search", jql="project = DEMO", fields="summary,status,resolution", maxResults=2),
        load("search_v2_dc.json"))  # fmt: skip
    add("cloud issue v3", "cloud", "/rest/api/3/issue/{issueIdOrKey}", "get",
        c.get(f"/rest/api/3/issue/{c.key}"), load("issue_v3_cloud.json"))  # fmt: skip
    add("cloud issue v2", "cloud", "/rest/api/3/issue/{issueIdOrKey}", "get",
        c.get(f"/rest/api/2/issue/{c.key}"), load("issue_v2_cloud.json"))  # fmt: skip
    add("dc issue v2", "dc", "/api/2/issue/{issueIdOrKey}", "get",
        d.get(f"/rest/api/2/issue/{d.key}"), load("issue_v2_dc.json"))  # fmt: skip
    add("cloud comments v3", "cloud", "/rest/api/3/issue/{issueIdOrKey}/comment", "get",
        c.get(f"/rest/api/3/issue/{c.key}/comment", expand="renderedBody"), load("comments_v3_cloud.json"))  # fmt: skip
    add("cloud comments v2", "cloud", "/rest/api/3/issue/{issueIdOrKey}/comment", "get",
        c.get(f"/rest/api/2/issue/{c.key}/comment"), load("comments_v2_cloud.json"))  # fmt: skip
    add("dc comments v2", "dc", "/api/2/issue/{issueIdOrKey}/comment", "get",
        d.get(f"/rest/api/2/issue/{d.key}/comment"), load("issue_v2_dc.json")["fields"]["comment"])  # fmt: skip
    add("cloud attachment meta", "cloud", "/rest/api/3/attachment/{id}", "get",
        c.get(f"/rest/api/3/attachment/{c.att_id}"), load("attachment_meta_cloud.json"))  # fmt: skip
    add("dc attachment meta", "dc", "/api/2/attachment/{id}", "get",
        d.get(f"/rest/api/2/attachment/{d.att_id}"), load("attachment_meta_dc.json"))  # fmt: skip
    errors = load("errors_quoted.json")
    add(
        "cloud 404 issue",
        None,
        None,
        None,
        c.get("/rest/api/3/issue/DEMO-999999"),
        errors["404_issue"],
    )
    add(
        "cloud 404 project",
        None,
        None,
        None,
        c.get("/rest/api/3/project/NOPE"),
        errors["404_project"],
    )
    add("cloud 410 /search", None, None, None, c.get("/rest/api/3/search", jql="project = DEMO"),
        errors["410_search"])  # fmt: skip
    add("dc 400 bad jql", None, None, None, d.get("/rest/api/2/search", jql="project = DEMO OR x = 1"),
        load("error_collection.json"))  # fmt: skip
    bad = httpx.get(c.fj.api_url + "/rest/api/3/myself", headers={"Authorization": "Basic eDp5"})
    out.append(("cloud 401 plain text", None, None, None, bad.status_code, bad.text, bad.text,
                errors["401_plain_text"]))  # fmt: skip
    dc_anon = httpx.post(d.fj.api_url + f"/rest/api/2/issue/{d.key}/comment", json={"body": "x"})
    out.append(("dc 401 POST", None, None, None, dc_anon.status_code, dc_anon.json(),
                dc_anon.json(), errors["401_post"]))  # fmt: skip
    return out


# --- OpenAPI ------------------------------------------------------------------


def _nullable(node):
    """OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            if "type" in node and isinstance(node["type"], str):
                node["type"] = [node["type"], "null"]
            else:
                node = {"anyOf": [node, {"type": "null"}]}
        for k in ("readOnly", "writeOnly", "example", "discriminator", "xml", "externalDocs"):
            node.pop(k, None) if k in ("discriminator", "xml") else None
        return node
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    return node


class Spec:
    def __init__(self, path: Path, prefix: str):
        raw = json.loads(path.read_text(encoding="utf-8"))
        self.paths = raw["paths"]
        self.components = _nullable(copy.deepcopy(raw["components"]))
        self.prefix = prefix

    def validate(self, spath: str, method: str, status: int, body) -> list[str]:
        import jsonschema

        op = self.paths.get(spath, {}).get(method)
        if op is None:
            return [f"path {spath} not in spec"]
        resp = op["responses"].get(str(status))
        if resp is None:
            return [f"status {status} not documented for {spath}"]
        schema = (resp.get("content") or {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        doc = {**_nullable(schema), "components": self.components}
        validator = jsonschema.Draft7Validator(doc)
        problems = []
        for err in sorted(validator.iter_errors(body), key=lambda e: list(e.path))[:200]:
            where = "/".join(str(p) for p in err.absolute_path) or "$"
            problems.append(f"{where}: {err.message[:140]}")
        return problems


# --- main -----------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--fixtures-only", action="store_true", help="skip the OpenAPI check")
    ap.add_argument("--details", action="store_true", help="list every missing/mismatched key")
    args = ap.parse_args(argv)

    sessions = {m: Session(m) for m in ("cloud", "datacenter")}
    try:
        results = cases(sessions)
    finally:
        for s in sessions.values():
            s.close()

    print("1. fakejira vs real payloads (key names and JSON types)\n")
    head = f"{'endpoint':28} {'status':>6} {'matched':>7} {'missing':>7} {'types':>6} {'extra':>6}  verdict"
    print(head)
    print("-" * len(head))
    totals = ShapeReport()
    details = []
    for name, _spec, _sp, _m, status, _body, fake, real in results:
        if real is None:
            continue
        if isinstance(real, str):
            ok = isinstance(fake, str) and real in fake
            rep = ShapeReport(
                matched=["$"] if ok else [], mismatched=[] if ok else [("$", "text", "other")]
            )
        else:
            rep = compare(real, fake)
        totals.merge(rep)
        verdict = "same shape" if rep.ok else "DIFFERS"
        print(f"{name:28} {status:>6} {len(rep.matched):>7} {len(rep.missing):>7} "
              f"{len(rep.mismatched):>6} {len(rep.extra):>6}  {verdict}")  # fmt: skip
        if rep.missing or rep.mismatched:
            details.append((name, rep))
    print("-" * len(head))
    print(f"{'total':28} {'':>6} {len(totals.matched):>7} {len(totals.missing):>7} "
          f"{len(totals.mismatched):>6} {len(totals.extra):>6}")  # fmt: skip
    for name, rep in details:
        print(f"\n  {name}:")
        shown = rep.missing if args.details else rep.missing[:12]
        for path in shown:
            print(f"    missing  {path}")
        if len(rep.missing) > len(shown):
            print(f"    ... {len(rep.missing) - len(shown)} more missing (--details)")
        for path, rt, ft in rep.mismatched:
            print(f"    type     {path}: real {rt}, fake {ft}")

    if args.fixtures_only:
        return 0
    specs = {}
    for key, file, prefix in (("cloud", "swagger-v3.v3.json", ""),
                              ("dc", "jira-software-dc-10.3-openapi.json", "/rest")):  # fmt: skip
        path = args.shared / "openapi" / file
        if path.is_file():
            specs[key] = Spec(path, prefix)
    if not specs:
        print(f"\n(no OpenAPI specs under {args.shared}/openapi: skipped)")
        return 0
    print("\n2. fakejira vs the official OpenAPI response schemas\n")
    print("(`real` = errors of the real capture against the same schema: when the real")
    print(" payload fails too, the spec, not fakejira, is wrong)\n")
    head = f"{'endpoint':28} {'spec':5} {'status':>6} {'errors':>6} {'real':>5}  first problem"
    print(head)
    print("-" * len(head))
    valid = checked = 0
    for name, spec, spath, method, status, body, fake, real in results:
        if spec is None or spec not in specs:
            continue
        problems = specs[spec].validate(spath, method, status, body)
        real_errors = "-"
        if isinstance(real, dict) and fake is body:
            real_errors = str(len(specs[spec].validate(spath, method, status, real)))
        checked += 1
        valid += not problems
        first = problems[0] if problems else "valid"
        print(f"{name:28} {spec:5} {status:>6} {len(problems):>6} {real_errors:>5}  {first[:80]}")
        if args.details:
            for p in problems[1:]:
                print(f"{'':50}{p[:100]}")
    print("-" * len(head))
    print(f"{valid}/{checked} responses valid against the spec schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())

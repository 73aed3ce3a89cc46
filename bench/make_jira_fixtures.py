"""Copy the real Jira payloads the conformance tests compare with into tests/fixtures/jira/.

Run once by hand (`/work/venv/bin/python bench/make_jira_fixtures.py`); tests never
read ../shared. People are anonymised (names, e-mails, account ids, avatars) and
free text is replaced, because only field names and JSON types are compared.
Long lists are cut to their first two items. See tests/fixtures/jira/PROVENANCE.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "jira-fixtures"
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "jira"

# target name -> (source path, optional selector)
SOURCES = {
    "serverinfo_cloud.json": ("jira-cli/serverinfo.json", None),
    "serverinfo_server.json": ("jira-rest-java-client/serverInfo/valid.json", None),
    "myself_cloud.json": ("demisto-content/cloud_raw_response.json", None),
    "myself_dc.json": ("demisto-content/onprem_raw_response.json", None),
    "attachment_meta_cloud.json": ("demisto-content/raw_response_attachment_metadata.json", None),
    "attachment_meta_dc.json": ("jira-rest-java-client/attachment/valid.json", None),
    "search_v2_dc.json": ("sling-committer-cli/committer-cli-1.0.0.json", None),
    "search_v3_cloud_issues.json": ("airbyte-source-jira/issues.json", "airbyte"),
    "search_jql_hand_trimmed.json": ("jira-cli/search.json", None),
    "comments_v3_cloud.json": ("demisto-content/get_comments_raw_response.json", None),
    "comments_v2_cloud.json": (
        "atlassian-python-api/jira/rest/api/2/issue/FOO-123/comment/GET.json",
        None,
    ),
    "issue_v2_dc.json": ("lucene-bugfix-correlation/LUCENE-6572.json", None),
    "issue_v2_cloud.json": ("jirametrics/SP-15.json", None),
    "issue_v3_cloud.json": ("jiratui/issue.json", None),
    "error_collection.json": ("jira-rest-java-client/error/valid4.json", None),
}

TEXT_KEYS = {"description", "body", "environment", "renderedBody", "summary", "comment"}
PERSON_KEYS = {"displayName", "emailAddress", "accountId", "name", "key", "self"}


class Anonymiser:
    def __init__(self) -> None:
        self.people: dict[str, int] = {}

    def person_no(self, ident: str) -> int:
        return self.people.setdefault(ident, len(self.people) + 1)

    def is_user(self, obj: dict) -> bool:
        return "displayName" in obj and (
            "avatarUrls" in obj or "accountId" in obj or "emailAddress" in obj or "active" in obj
        )

    def user(self, obj: dict) -> dict:
        ident = str(obj.get("accountId") or obj.get("name") or obj.get("displayName"))
        n = self.person_no(ident)
        out = {}
        for k, v in obj.items():
            if k == "displayName":
                out[k] = f"Person {n}"
            elif k == "emailAddress":
                out[k] = f"person{n}@example.com"
            elif k == "accountId":
                out[k] = f"000000:00000000-0000-0000-0000-{n:012d}"
            elif k == "name" or k == "key" and not str(v).startswith("JIRAUSER"):
                out[k] = f"person{n}"
            elif k == "self" and isinstance(v, str):
                out[k] = v.split("?")[0] + f"?username=person{n}"
            elif k == "avatarUrls" and isinstance(v, dict):
                out[k] = {s: f"https://avatar.example.com/{n}/{s}.png" for s in v}
            else:
                out[k] = self.walk(v, k)
        return out

    def text(self, value):
        if isinstance(value, str):
            return "Anonymised text." if value else value
        if isinstance(value, dict) and value.get("type") == "doc":
            return {
                "type": "doc",
                "version": value.get("version", 1),
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Anonymised text."}]}
                ],
            }
        return self.walk(value)

    def walk(self, value, key: str = ""):
        if isinstance(value, dict):
            if self.is_user(value):
                return self.user(value)
            out = {}
            for k, v in value.items():
                if (
                    k in TEXT_KEYS
                    and not isinstance(v, dict | list)
                    or (k in TEXT_KEYS and isinstance(v, dict) and v.get("type") == "doc")
                ):
                    out[k] = self.text(v)
                elif k in ("comments", "worklogs", "histories", "issues", "values") and isinstance(
                    v, list
                ):
                    out[k] = [self.walk(x) for x in v[:2]]
                elif k in ("fixVersions", "issuelinks", "attachment", "customfield_10020"):
                    out[k] = [self.walk(x) for x in v[:2]] if isinstance(v, list) else self.walk(v)
                else:
                    out[k] = self.walk(v, k)
            return out
        if isinstance(value, list):
            return [self.walk(x) for x in value[:5]]
        if isinstance(value, str) and "@" in value and " " not in value and "." in value:
            return "someone@example.com"
        return value


def main() -> int:
    if not SHARED.is_dir():
        print(f"no {SHARED}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for target, (source, selector) in SOURCES.items():
        data = json.loads((SHARED / source).read_text(encoding="utf-8"))
        if selector == "airbyte":  # Airbyte adds these four keys to each issue itself
            for issue in data["issues"]:
                for k in ("projectId", "projectKey", "created", "updated"):
                    issue.pop(k, None)
        clean = Anonymiser().walk(data)
        (OUT / target).write_text(json.dumps(clean, indent=1, ensure_ascii=False) + "\n")
        print(f"{target:32} <- {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

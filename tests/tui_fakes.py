"""In-memory stand-ins for the Jira client, for the datasources/sync/settings TUI tests.

No HTTP at all: the objects answer the few calls the screens and the sync engine
make (search_ids, bulkfetch, comments, test_connection, tenant_info), and can fail
or hold a batch until a test releases it (to cancel mid-sync deterministically).
"""

from __future__ import annotations

import asyncio
import functools
import threading

from indexer.jira.errors import JiraAuthError, ProjectNotFoundError


def raw_issue(number: int, project: str = "DEMO") -> dict:
    day = 1 + number % 28
    return {
        "id": str(10000 + number),
        "key": f"{project}-{number}",
        "fields": {
            "summary": f"Issue number {number} about connection timeouts",
            "description": None,
            "issuetype": {"name": "Bug"},
            "status": {"name": "Open", "statusCategory": {"name": "To Do"}},
            "priority": {"name": "High"},
            "project": {"key": project},
            "labels": ["db"],
            "created": f"2024-05-{day:02d}T10:00:00.000+0000",
            "updated": f"2024-05-{day:02d}T12:00:{number % 60:02d}.000+0000",
        },
    }


class FakeJiraClient:
    """Enough of indexer.jira.JiraClient for sync and connection tests."""

    def __init__(
        self,
        issues: int = 250,
        *,
        project: str = "DEMO",
        fail: Exception | None = None,
        hold_after: int | None = None,
        user: str = "Zoë Ångström",
        deployment: str = "cloud",
        visible_projects: tuple[str, ...] = ("DEMO",),
        cloud_id: str = "a1b2c3d4-0000-4000-8000-123456789abc",
    ) -> None:
        self.site_url = "https://example.atlassian.net"
        self.max_concurrency = 1
        self.attachment_max_bytes = 1_000_000
        self.project = project
        self.count = issues
        self.fail = fail
        self.hold_after = hold_after
        self.release = threading.Event()
        self.held = threading.Event()
        self.fetched = 0
        self.user = user
        self.deployment = deployment
        self.visible_projects = visible_projects
        self.cloud_id = cloud_id
        self.closed = False

    # -- sync
    def search_ids(self, jql: str, page_size: int = 1000):
        if self.fail is not None:
            raise self.fail
        for number in range(1, self.count + 1):
            raw = raw_issue(number, self.project)
            yield {"id": raw["id"], "key": raw["key"], "updated": raw["fields"]["updated"]}

    def bulkfetch(self, ids, fields, decode=None):
        if self.hold_after is not None and self.fetched >= self.hold_after:
            self.held.set()
            self.release.wait(10)
        wanted = {str(i) for i in ids}
        result = [
            raw_issue(n, self.project) for n in range(1, self.count + 1) if str(10000 + n) in wanted
        ]
        self.fetched += len(result)
        return decode({"issues": result})["issues"] if decode else result

    def comments(self, key_or_id, decode=None):
        return []

    def download_attachment(self, url, max_bytes):
        return None

    # -- connection tests
    def test_connection(self, project_key: str | None = None) -> dict:
        if self.fail is not None:
            raise self.fail
        result = {
            "site": self.site_url,
            "auth_mode": "basic",
            "user": self.user,
            "deployment": self.deployment,
            "api_version": "3" if self.deployment == "cloud" else "2",
            "api_mode": "personal",
        }
        if project_key:
            key = project_key.upper()
            if key in self.visible_projects:
                result["project"] = {"key": key, "name": "Demo project", "visible": True}
            else:
                error = ProjectNotFoundError(
                    f"Project {key} does not exist or you do not have permission to see it"
                )
                result["project"] = {"key": key, "visible": False, "error": str(error)}
        return result

    def tenant_info(self) -> str:
        if self.fail is not None:
            raise self.fail
        return self.cloud_id

    def close(self) -> None:
        self.closed = True


def auth_error() -> JiraAuthError:
    return JiraAuthError("Jira refused the credentials (401): check the e-mail and API token")


def run_async(test):
    """Run an async test body with asyncio.run (no pytest asyncio plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper

"""JSON shapes, modelled on real captured Jira payloads (see jira-fixtures).

`Site` carries what differs per request: the base URL used in `self` links (site
URL, context path, or the api.atlassian.com-style gateway prefix), Cloud vs Data
Center user shapes, the REST version (ADF on 3, wiki markup on 2) and the time zone
timestamps are written in.
"""

from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from . import text
from .dataset import EMBEDDED_COMMENTS, ME, USERS, Attachment, Comment, Issue

REMOVED_SEARCH_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
CLIENT_MUST_AUTH = "Client must be authenticated to access this resource."
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."

ALL_FIELDS = [
    "statuscategorychangedate", "issuetype", "timespent", "project", "fixVersions", "aggregatetimespent",
    "resolution", "resolutiondate", "workratio", "watches", "lastViewed", "created", "priority", "labels",
    "customfield_10016", "versions", "issuelinks", "assignee", "updated", "status", "components",
    "timeoriginalestimate", "description", "timetracking", "security", "attachment", "aggregatetimeestimate",
    "summary", "creator", "subtasks", "reporter", "aggregateprogress", "environment", "duedate", "progress",
    "votes", "comment", "worklog", "timeestimate", "aggregatetimeoriginalestimate",
]  # fmt: skip
CLOUD_ONLY_FIELDS = {"issuerestriction", "statusCategory"}  # Cloud adds these to every issue
NOT_NAVIGABLE = {"comment", "attachment", "worklog", "timetracking"}
NAVIGABLE = [f for f in ALL_FIELDS if f not in NOT_NAVIGABLE]

STATUS = {  # name -> (id, category)
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "In Review": ("10001", "indeterminate"),
    "Done": ("10002", "done"),
    "Closed": ("6", "done"),
}
CATEGORY = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
ISSUETYPE = {  # name -> (id, description, hierarchy level)
    "Bug": ("10004", "A problem which impairs or prevents the functions of the product.", 0),
    "Task": ("10002", "A small, distinct piece of work.", 0),
    "Story": ("10001", "Functionality or a feature expressed as a user goal.", 0),
    "Improvement": ("10005", "An improvement or enhancement to an existing feature or task.", 0),
    "Epic": ("10000", "A big user story that needs to be broken down.", 1),
}
PRIORITY = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
AVATAR = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/{}-{}.png"


@dataclass
class Account:
    """The account behind the API token (the `/myself` answer and author of posted comments)."""

    email: str
    display_name: str = "Fake Tester"
    account_id: str = "712020:5f3e2c1a-9b7d-4e21-8c3f-0a1b2c3d4e5f"
    name: str = "tester"
    key: str = "JIRAUSER10000"


@dataclass
class Site:
    base: str  # for self links, e.g. http://127.0.0.1:1234/jira or .../ex/jira/<cloudId>
    site_url: str  # the browsable site (for DC attachment content links)
    cloud: bool
    version: str  # "2" or "3"
    tz: ZoneInfo
    me: Account

    @property
    def api(self) -> str:
        return f"{self.base}/rest/api/{self.version}"


def ts(ms: int, tz: ZoneInfo) -> str:
    """Jira's timestamp form: 2022-12-08T02:22:18.889-0800, in the user's zone.

    Built from isoformat (several times faster than two strftime calls: the sync
    benchmarks render millions of these); the offset loses its colon as with %z."""
    s = datetime.fromtimestamp(ms // 1000, tz).isoformat()
    return f"{s[:19]}.{ms % 1000:03d}{s[19:].replace(':', '')}"


def error(*messages: str, errors: dict | None = None) -> dict:
    return {"errorMessages": list(messages), "errors": errors or {}}


def search_window_error(asked: int, window: int) -> dict:
    """Data Center's HTTP 500 past its search window: the REST Status entity, worded
    as Atlassian's KB quotes it ("Handling JQL REST API searching exceeding
    max_result_window in Jira")."""
    return {
        "message": (
            f"Search limit exceeded. We couldn't complete your search because it requests "
            f"{asked:,} results which exceeded the search platform limit of {window:,}. Try "
            "refining your query or contact your Jira administrator. Repeating the same "
            "search may not work."
        ),
        "status-code": 500,
        "stack-trace": "Please contact your admin passing attached Log's referral number: "
        "fakejira-search-window",
    }


@functools.cache
def _account_id(idx: int) -> str:
    digest = hashlib.md5(USERS[idx][1].encode()).hexdigest()
    return (
        ("5b" + digest[:22])
        if idx % 2 == 0
        else f"557058:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    )


# Rendered people per (site shape, user index): a bulkfetch page names the same ten
# people hundreds of times. Callers get a shallow copy (myself() adds keys).
_USER_BEANS: dict[tuple, dict] = {}


def user(site: Site, idx: int | None) -> dict | None:
    if idx is None:
        return None
    if idx == ME:
        return _user(site, idx)
    key = (site.api, site.cloud, site.tz.key, idx)
    bean = _USER_BEANS.get(key)
    if bean is None:
        if len(_USER_BEANS) > 4096:
            _USER_BEANS.clear()
        bean = _USER_BEANS[key] = _user(site, idx)
    return dict(bean)


def _user(site: Site, idx: int) -> dict:
    if idx == ME:
        display, name, email, acct, key = (site.me.display_name, site.me.name, site.me.email,
                                           site.me.account_id, site.me.key)  # fmt: skip
    else:
        display, name, email = USERS[idx]
        acct, key = _account_id(idx), f"JIRAUSER{10100 + idx}"
    initials = "".join(w[0] for w in display.split()[:2]).upper()
    avatars = {size: AVATAR.format(initials, size) for size in ("48x48", "24x24", "16x16", "32x32")}
    if site.cloud:
        out = {"self": f"{site.api}/user?accountId={quote(acct)}", "accountId": acct}
        if idx == ME or idx % 3 == 0:  # Cloud hides most people's e-mail
            out["emailAddress"] = email
        out.update(
            avatarUrls=avatars,
            displayName=display,
            active=True,
            timeZone=site.tz.key,
            accountType="atlassian",
        )
        return out
    return {"self": f"{site.api}/user?username={quote(name)}", "name": name, "key": key, "emailAddress": email,
            "avatarUrls": avatars, "displayName": display, "active": True, "timeZone": site.tz.key}  # fmt: skip


def _mention_adf(site: Site):
    def mention(idx: int) -> dict:
        name = USERS[idx][0]
        return {"id": _account_id(idx), "text": "@" + name, "accessLevel": ""}

    return mention


def _mention_wiki(site: Site):
    def mention(idx: int) -> str:
        return f"[~accountid:{_account_id(idx)}]" if site.cloud else f"[~{USERS[idx][1]}]"

    return mention


def rich(site: Site, blocks: list | None):
    if blocks is None:
        return None
    if site.version == "3":
        return text.to_adf(blocks, _mention_adf(site))
    return text.to_wiki(blocks, _mention_wiki(site))


def comment_body(site: Site, c: Comment):
    if site.version == "3":
        if c.adf is not None:
            return c.adf
        if c.wiki is not None:
            return text.to_adf(text.text_blocks(c.wiki), _mention_adf(site))
    else:
        if c.wiki is not None:
            return c.wiki
        if c.adf is not None:
            return text.adf_plain_text(c.adf)
    return rich(site, c.blocks)


def rendered_html(site: Site, body) -> str:
    """`expand=renderedBody`: Jira's HTML rendering, here a paragraph per block of text."""
    plain = text.adf_plain_text(body) if isinstance(body, dict) else str(body or "")
    return "".join(f"<p>{html.escape(part)}</p>" for part in plain.split("\n\n") if part)


def comment(site: Site, issue: Issue, c: Comment, rendered: bool = False) -> dict:
    author = user(site, c.author)
    body = comment_body(site, c)
    created = ts(c.created, site.tz)
    updated = created if c.updated == c.created else ts(c.updated, site.tz)  # most: never edited
    out = {"self": f"{site.api}/issue/{issue.id}/comment/{c.id}", "id": str(c.id), "author": author,
           "body": body, "updateAuthor": author, "created": created, "updated": updated}  # fmt: skip
    if rendered:
        out["renderedBody"] = rendered_html(site, body)
    if site.cloud:
        out["jsdPublic"] = True
    return out


def comment_page(
    site: Site, issue: Issue, start: int, max_results: int, rendered: bool = False
) -> dict:
    chosen = issue.comments[start : start + max_results]
    return {"startAt": start, "maxResults": max_results, "total": len(issue.comments),
            "comments": [comment(site, issue, c, rendered) for c in chosen]}  # fmt: skip


def embedded_comments(site: Site, issue: Issue) -> dict:
    """The `comment` field, a page with the true total: on Cloud at most the first
    20 comments (its cap is not documented: the client must page for the rest); on
    Data Center all of them, as real DC issues show (LUCENE-8227 in jira-fixtures:
    maxResults == total == 41)."""
    shown = issue.comments[:EMBEDDED_COMMENTS] if site.cloud else issue.comments
    return {"comments": [comment(site, issue, c) for c in shown], "self": f"{site.api}/issue/{issue.id}/comment",
            "maxResults": len(shown), "total": len(issue.comments), "startAt": 0}  # fmt: skip


def attachment_metadata(site: Site, a: Attachment) -> dict:
    """`GET /attachment/{id}`: on Cloud its id is a number and it has `properties`
    (the `attachment` field of an issue keeps the id as a string)."""
    out = attachment(site, a)
    if site.cloud:
        out["id"] = a.id
        out["properties"] = {}
    return out


def attachment(site: Site, a: Attachment) -> dict:
    out = {"self": f"{site.api}/attachment/{a.id}", "id": str(a.id), "filename": a.filename,
           "author": user(site, a.author), "created": ts(a.created, site.tz), "size": len(a.data),
           "mimeType": a.mime}  # fmt: skip
    if site.cloud:
        out["content"] = f"{site.api}/attachment/content/{a.id}"
        if a.mime.startswith("image/"):
            out["thumbnail"] = f"{site.api}/attachment/thumbnail/{a.id}"
    else:
        out["content"] = f"{site.site_url}/secure/attachment/{a.id}/{quote(a.filename)}"
        if a.mime.startswith("image/"):
            out["thumbnail"] = f"{site.site_url}/secure/thumbnail/{a.id}/_thumb_{a.id}.png"
    return out


def project(site: Site, key: str, pid: int, name: str) -> dict:
    avatars = {
        size: f"{site.base}/secure/projectavatar?pid={pid}&size={size}"
        for size in ("48x48", "24x24", "16x16", "32x32")
    }
    out = {"self": f"{site.api}/project/{pid}", "id": str(pid), "key": key, "name": name,
           "projectTypeKey": "software", "avatarUrls": avatars}  # fmt: skip
    if site.cloud:
        out["simplified"] = False
    return out


def project_full(site: Site, key: str, pid: int, name: str) -> dict:
    out = project(site, key, pid, name)
    out.update(description="", lead=user(site, 0), components=[], issueTypes=[], versions=[],
               assigneeType="UNASSIGNED", roles={})  # fmt: skip
    out["issueTypes"] = [issuetype(site, t) for t in ISSUETYPE]
    return out


def issuetype(site: Site, name: str) -> dict:
    tid, desc, level = ISSUETYPE.get(name, ("10002", "", 0))
    out = {"self": f"{site.api}/issuetype/{tid}", "id": tid, "description": desc,
           "iconUrl": f"{site.base}/images/icons/issuetypes/{name.lower()}.svg", "name": name, "subtask": False}  # fmt: skip
    out["avatarId"] = 10300 + int(tid) % 100
    if site.cloud:
        out["hierarchyLevel"] = level
    return out


def status(site: Site, name: str) -> dict:
    sid, cat = STATUS.get(name, ("10000", "new"))
    cid, colour, cname = CATEGORY[cat]
    return {"self": f"{site.api}/status/{sid}", "description": "", "iconUrl": f"{site.base}/", "name": name, "id": sid,
            "statusCategory": {"self": f"{site.api}/statuscategory/{cid}", "id": cid, "key": cat,
                               "colorName": colour, "name": cname}}  # fmt: skip


def _field_value(site: Site, issue: Issue, name: str, projects: dict):
    tz = site.tz
    done = STATUS.get(issue.status, ("", "new"))[1] == "done"
    if name == "summary":
        return issue.summary
    if name == "description":
        return rich(site, issue.blocks)
    if name in ("created", "updated"):
        return ts(getattr(issue, name), tz)
    if name == "statuscategorychangedate":
        return ts(issue.created + (issue.updated - issue.created) // 2, tz)
    if name == "issuetype":
        return issuetype(site, issue.issuetype)
    if name == "project":
        pid, pname = projects.get(issue.project, (10000, issue.project))
        return project(site, issue.project, pid, pname)
    if name == "status":
        return status(site, issue.status)
    if name == "priority":
        pid = PRIORITY.get(issue.priority, "3")
        return {"self": f"{site.api}/priority/{pid}", "iconUrl": f"{site.base}/images/icons/priorities/{issue.priority.lower()}.svg",
                "name": issue.priority, "id": pid}  # fmt: skip
    if name == "resolution":
        if not done:
            return None
        return {
            "self": f"{site.api}/resolution/10000",
            "id": "10000",
            "description": "Work has been completed on this issue.",
            "name": "Done",
        }
    if name == "resolutiondate":
        return ts(issue.updated, tz) if done else None
    if name == "labels":
        return list(issue.labels)
    if name == "components":
        return [{"self": f"{site.api}/component/{10100 + text.COMPONENTS.index(c) if c in text.COMPONENTS else 10099}",
                 "id": str(10100 + text.COMPONENTS.index(c) if c in text.COMPONENTS else 10099), "name": c}
                for c in issue.components]  # fmt: skip
    if name == "assignee":
        return user(site, issue.assignee)
    if name in ("reporter", "creator"):
        return user(site, issue.reporter)
    if name == "comment":
        return embedded_comments(site, issue)
    if name == "attachment":
        return [attachment(site, a) for a in issue.attachments]
    if name == "watches":
        return {
            "self": f"{site.api}/issue/{issue.key}/watchers",
            "watchCount": 1 + issue.index % 4,
            "isWatching": False,
        }
    if name == "votes":
        return {
            "self": f"{site.api}/issue/{issue.key}/votes",
            "votes": issue.index % 3,
            "hasVoted": False,
        }
    if name in ("progress", "aggregateprogress"):
        return {"progress": 0, "total": 0}
    if name == "worklog":
        return {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
    if name == "workratio":
        return -1
    if name == "timetracking":
        return {}
    if name in ("fixVersions", "versions", "issuelinks", "subtasks"):
        return []
    if name == "issuerestriction":
        return {"issuerestrictions": {}, "shouldDisplay": False}
    if name == "statusCategory":
        return status(site, issue.status)["statusCategory"]
    if name == "customfield_10016":
        return [None, 1.0, 2.0, 3.0, 5.0, 8.0][issue.index % 6]
    return None


def parse_fields(spec, default: str) -> list[str]:
    """`fields` as Jira reads it: comma list or list, `*all`, `*navigable`, `-name`."""
    if spec is None or spec == "" or spec == []:
        spec = default
    items = spec if isinstance(spec, list) else str(spec).split(",")
    wanted: list[str] = []
    removed: set[str] = set()
    for raw in items:
        name = str(raw).strip()
        if not name:
            continue
        if name.startswith("-"):
            removed.add(name[1:])
        elif name == "*all":
            wanted += ALL_FIELDS + sorted(CLOUD_ONLY_FIELDS)
        elif name == "*navigable":
            wanted += NAVIGABLE + sorted(CLOUD_ONLY_FIELDS)
        else:
            wanted.append(name)
    seen: dict[str, None] = {}
    for name in wanted:
        if name not in removed:
            seen.setdefault(name, None)
    return list(seen)


def only_ids(fields: list[str]) -> bool:
    return set(fields) <= {"id", "key"}


def issue(
    site: Site, iss: Issue, fields: list[str], projects: dict, bare_id_ok: bool = False
) -> dict:
    """One IssueBean. With fields=id on Cloud search/jql the bean is just {"id"}."""
    if bare_id_ok and fields == ["id"]:
        return {"id": str(iss.id)}
    out = {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
           "id": str(iss.id), "self": f"{site.api}/issue/{iss.id}", "key": iss.key}  # fmt: skip
    values = {}
    for name in fields:
        if name in ("id", "key"):
            continue
        if name in ALL_FIELDS or (site.cloud and name in CLOUD_ONLY_FIELDS):
            values[name] = _field_value(site, iss, name, projects)
    out["fields"] = values
    return out


def server_info(site_url: str, mode: str, now_ms: int, tz: ZoneInfo) -> dict:
    if mode in ("cloud", "gateway"):
        return {"baseUrl": site_url, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud", "buildNumber": 100290, "buildDate": "2025-11-20T10:12:31.000-0800",
                "serverTime": ts(now_ms, tz), "scmInfo": "b1e0c7d9a4f2fa3f3e1d2a7b9c8e6f5d4c3b2a10",
                "serverTitle": "Jira", "defaultLocale": {"locale": "en_US"}}  # fmt: skip
    out = {"baseUrl": site_url, "version": "10.3.0", "versionNumbers": [10, 3, 0],
           "deploymentType": "Server" if mode == "anonymous" else "DataCenter", "buildNumber": 10030000,
           "buildDate": "2024-12-03T00:00:00.000-0800", "serverTime": ts(now_ms, tz),
           "scmInfo": "3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", "serverTitle": "Jira"}  # fmt: skip
    if mode == "anonymous":
        out["version"], out["versionNumbers"] = "9.12.15", [9, 12, 15]
    return out


def myself(site: Site) -> dict:
    out = user(site, ME) or {}
    out.update(locale="en_US", groups={"size": 2, "items": []}, applicationRoles={"size": 1, "items": []},
               expand="groups,applicationRoles")  # fmt: skip
    if not site.cloud:
        out["deleted"] = False
    return out

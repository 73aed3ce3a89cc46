"""Searching and fetching issues: Cloud `search/jql` pages by `nextPageToken`, Data
Center `search` pages by `startAt` (concurrently once `total` is known, sliced by
`updated` past its search window), id listings, counts and bulk fetches.

`IssueSearch` is a part of `JiraClient`; it sends through the client's `_json`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from indexer import secrets
from indexer.config import ISSUE_KEY_RE
from indexer.normalize import parse_jira_time

from .errors import (
    InvalidIssueKeyError,
    JiraBadRequestError,
    JiraError,
    JiraResponseError,
    JiraServerError,
)

log = logging.getLogger("jiradex.jira")

BULKFETCH_CHUNK = 100
# Times the issues a bulkfetch lists in `issueErrors` (retriable) are asked again.
BULKFETCH_ERROR_RETRIES = 2
# What a site without bulkfetch answers it with (Jira's own bulkfetch never says
# 404: issues it cannot find are left out, and ones it failed on listed in its
# `issueErrors`).
ENDPOINT_MISSING = frozenset({404, 405, 501})
# Data Center refuses a search whose startAt + maxResults passes this ("Search limit
# exceeded"); listings go deeper by starting again after the last `updated` seen.
DC_SEARCH_WINDOW = 10_000
LISTING_ORDER = " ORDER BY updated ASC, key ASC"
# Longer JQL goes in a POST body: URLs past a few kB are refused by proxies and servers.
LONG_JQL_CHARS = 2000

_MISSING_ID = re.compile(r"A value with ID '(\d+)' does not exist for the field 'id'")
_MISSING_KEY = re.compile(
    r"An issue with key '([A-Za-z][A-Za-z0-9_]*-\d+)' does not exist for field 'key'"
)


def _missing_issues(messages: list[str]) -> set[str]:
    """Ids and keys (upper-cased) that Jira's 400 says do not exist."""
    found: set[str] = set()
    for message in messages:
        found.update(_MISSING_ID.findall(message))
        found.update(key.upper() for key in _MISSING_KEY.findall(message))
    return found


def _issues_of(page: Any, raw: bool = True) -> list:
    """The `issues` of a search or bulkfetch page; a body of another shape (a proxy's,
    or a server that is not Jira) is a clear error rather than a crash further on.
    `raw`: the items are Jira's issue objects (not what a `decode` made of them)."""
    issues = page.get("issues") if isinstance(page, dict) else page
    if issues is None:
        return []
    if (
        not isinstance(page, dict)
        or not isinstance(issues, list)
        or (raw and not all(isinstance(i, dict) for i in issues))
    ):
        raise JiraResponseError(
            "Jira answered a search with something that is not a list of issues: "
            "check that the site URL is Jira's"
        )
    return issues


def _listed_once(issue: dict, seen: dict[str, str | None]) -> tuple[dict | None, int | None]:
    """A listing item for a DC search issue unless `seen` has it with this `updated`
    (`seen` is updated), and its `updated` in epoch ms."""
    ident = str(issue.get("id"))
    updated = (issue.get("fields") or {}).get("updated")
    moment = parse_jira_time(updated) if updated else None
    ms = int(moment.timestamp() * 1000) if moment is not None else None
    if ident in seen and seen[ident] == updated:
        return None, ms
    seen[ident] = updated
    return {"id": ident, "key": issue.get("key"), "updated": updated}, ms


class _WindowShrunk(Exception):
    """A listing page passed the server's search window, now learnt: slice again."""


# What a refusal for passing the search window says; a 500 must say it in these
# words (another 500, "GC overhead limit exceeded", is no window).
_WINDOW_WORDS = re.compile(r"(?i)search limit|result window|max_?result_?window|platform limit")


def _refused_window(message: str, asked_end: int, strict: bool = False) -> int | None:
    """The search window a Data Center refusal names ("Search limit exceeded ...
    exceeded the search platform limit of 10,000", "must not exceed 5,000"), else
    half of what was asked; None when the message is about something else."""
    if strict and not _WINDOW_WORDS.search(message):
        return None
    if not re.search(r"(?i)search limit|result window|max_?result|exceed", message):
        return None
    stated = re.search(r"(?i)(?:limit of|exceed)\s+(\d[\d,]*)", message)
    if stated and 0 < int(stated.group(1).replace(",", "")) < asked_end:
        return int(stated.group(1).replace(",", ""))
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", message)]
    named = [n for n in numbers if 0 < n < asked_end]
    window = max(named) if named else asked_end // 2
    return window if window >= 1 else None


# A listing item that is no issue: "the result set shrank while it was paged by
# offset, an issue may have been passed over": the listing is done again.
SHIFTED: dict = {"id": "", "key": "", "updated": None, "shifted": True}


def _note_shift(window: list[bool], total: Any, page: Any) -> None:
    """Set window[1] when a page's `total` is below the first page's: an issue left
    the result set. (One that joins lands at the end of an `updated` order, or, with
    an older `updated`, pushes the pages forward and repeats an id: both harmless
    or seen otherwise; a busy project should not have its listing done again for
    every issue created meanwhile.)"""
    now = page.get("total") if isinstance(page, dict) else None
    if isinstance(total, int) and isinstance(now, int) and now < total and len(window) > 1:
        window[1] = True


def validate_issue_key(key_or_id: str) -> str:
    """A key like PROJ-123 (upper-cased) or a numeric id; else InvalidIssueKeyError."""
    text = str(key_or_id or "").strip()
    if text.isdigit():
        return text
    if not ISSUE_KEY_RE.match(text):
        shown = secrets.redact(text)[:60]
        raise InvalidIssueKeyError(f"Issue key must look like PROJECT-123 (got {shown!r})")
    return text.upper()


class IssueSearch:
    """`JiraClient`'s searches, listings and bulk fetches."""

    def search_issues(
        self,
        jql: str,
        fields: Iterable[str] | str = ("*navigable",),
        page_size: int = 100,
        *,
        expand: str | None = None,
    ) -> Iterator[list[dict]]:
        """Pages (lists) of raw issues in JQL order, to the last page."""
        field_list = fields if isinstance(fields, str) else ",".join(fields)
        if not field_list:
            field_list = "id"
        if self.is_cloud:
            yield from self._search_cloud(jql, field_list, page_size, expand)
        else:
            yield from self._search_dc(jql, field_list, page_size, expand)

    def _search_cloud(self, jql, fields, page_size, expand) -> Iterator[list[dict]]:
        """Pages of `search/jql`. A long JQL (a datasource's own, say) goes in the body
        of the POST form, which takes the same keys, instead of a URL it could overflow."""
        token: str | None = None
        seen_tokens: set[str] = set()
        long_jql = len(jql) > LONG_JQL_CHARS
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
            if expand:
                params["expand"] = expand
            if token:
                params["nextPageToken"] = token
            if long_jql:
                body = {**params, "fields": [f for f in fields.split(",") if f]}
                data = (
                    self._json("POST", "/rest/api/3/search/jql", json_body=body, idempotent=True)
                    or {}
                )
            else:
                data = self._json("GET", "/rest/api/3/search/jql", params=params) or {}
            issues = _issues_of(data)
            if issues:
                yield issues
            token = data.get("nextPageToken")
            if data.get("isLast") or not token or token in seen_tokens:
                return
            seen_tokens.add(token)

    def _search_dc(
        self, jql, fields, page_size, expand, decode=None, validate=True
    ) -> Iterator[list[dict]]:
        start = 0
        size = page_size
        while True:
            params: dict[str, Any] = {
                "jql": jql,
                "fields": fields,
                "startAt": start,
                "maxResults": size,
            }
            if expand:
                params["expand"] = expand
            if not validate:
                params["validateQuery"] = "false"
            data = self._dc_search(params, decode=decode)
            issues = _issues_of(data, decode is None)
            if issues:
                yield issues
            # Servers lower maxResults: count what came, and ask for no more than allowed.
            granted = data.get("maxResults")
            if isinstance(granted, int) and 0 < granted < size:
                size = granted
            start = int(data.get("startAt", start) or 0) + len(issues)
            total = data.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return

    def _dc_page(self, jql: str, fields: str, start: int, size: int) -> dict:
        """One page of a listing. A server whose search window is smaller than we
        took it to be (an admin lowered `jira.search.platform.max.result.window`)
        refuses the page, with an HTTP 500 says Atlassian's KB (a 400 from others):
        the window it names (or half of ours) is learnt and `_WindowShrunk` says to
        start the slice again inside it. (It may serve empty pages instead: see
        `_search_dc_window`.)"""
        params = {"jql": jql, "fields": fields, "startAt": start, "maxResults": size}
        try:
            return self._dc_search(params)
        except (JiraBadRequestError, JiraServerError) as exc:
            if getattr(exc, "status", 400) not in (400, 500):
                raise
            said = " ".join(getattr(exc, "messages", None) or [str(exc)])
            window = _refused_window(said, start + size, strict=getattr(exc, "status", 400) == 500)
            if window is None or start + size <= window:
                raise  # refused for another reason than the window
            if window < self.dc_search_window:
                log.info("jira: %s searches reach %d results at most", self.site_url, window)
                self.dc_search_window = window
            # (Pages fetched at once: another may have learnt it first.)
            raise _WindowShrunk from None

    def _dc_search(self, params: dict[str, Any], decode=None) -> dict:
        """One `/rest/api/2/search` page. A long JQL goes in the body of the POST form
        (`SearchRequestBean`: `fields` and `expand` as lists), as a URL holding it
        could pass what a proxy or Tomcat accepts."""
        if len(params.get("jql") or "") <= LONG_JQL_CHARS:
            return self._json("GET", "/rest/api/2/search", params=params, decode=decode) or {}
        body = dict(params)
        for name in ("fields", "expand"):
            if name in body:
                body[name] = [part for part in str(body[name]).split(",") if part]
        if "validateQuery" in body:
            body["validateQuery"] = body["validateQuery"] != "false"
        return (
            self._json("POST", "/rest/api/2/search", json_body=body, idempotent=True, decode=decode)
            or {}
        )

    def _search_dc_window(
        self, jql: str, fields: str, page_size: int, window: list[bool]
    ) -> Iterator[list[dict]]:
        """Pages of one search up to the server's search window, in order; window[0]
        says whether results were left beyond it, window[1] whether `total` fell
        from page to page (an issue deleted or moved out meanwhile shifts every later
        page back by one, so an issue at a page boundary was never listed).

        The first page says `total` and the page size the server grants; the other
        pages' startAt are then known, so they are fetched concurrently (under the
        client's concurrency limit; the caller's ORDER BY keeps them stable). A page
        that comes back short (the server granted less, or the results shrank) leaves
        the rest to plain sequential paging from there."""
        limit = self.dc_search_window
        asked = min(page_size, limit)
        first = self._dc_page(jql, fields, 0, asked)
        issues = _issues_of(first)
        if issues:
            yield issues
        total, granted = first.get("total"), first.get("maxResults")
        if not issues and isinstance(total, int) and total > 0:
            # Matches, and none served from the start: a window its admin lowered
            # below our page size, served as empty results. Ending here would list
            # nothing, and reconcile would delete the whole project: halve, again.
            if asked <= 1:
                raise JiraResponseError(
                    f"Jira at {self.site_url} says {total:,} issues match but returns "
                    "none of them: check the datasource's JQL and the account's permissions"
                )
            log.info("jira: %s searches reach fewer than %d results", self.site_url, asked)
            self.dc_search_window = min(self.dc_search_window, asked // 2)
            raise _WindowShrunk
        size = granted if isinstance(granted, int) and 0 < granted <= page_size else page_size
        start = len(issues)
        if not issues or not isinstance(total, int) or start >= total:
            return
        end = min(total, limit)
        window[0] = total > limit  # said now: a page that comes back empty ends it early
        starts = list(range(start, end, size)) if start == size else []
        with ThreadPoolExecutor(
            max_workers=max(1, min(self.limiter.max_limit, len(starts))),
            thread_name_prefix="jiradex-list",
        ) as pool:
            futures = [
                pool.submit(self._dc_page, jql, fields, s, min(size, limit - s)) for s in starts
            ]
            try:
                for at, future in zip(starts, futures, strict=True):
                    page = future.result()
                    issues = _issues_of(page)
                    _note_shift(window, total, page)
                    if issues:
                        yield issues
                    start = at + len(issues)
                    if len(issues) < min(size, end - at):
                        break  # short: go on one page at a time from here
            finally:
                for future in futures:
                    future.cancel()
        while start < end:
            page = self._dc_page(jql, fields, start, min(size, limit - start))
            issues = _issues_of(page)
            _note_shift(window, total, page)
            if not issues:
                now = page.get("total")
                if 0 < start < self.dc_search_window and isinstance(now, int) and now > start:
                    # No issues where `total` says there are more: the way a Data
                    # Center serves pages past a window its admin lowered (as well
                    # as refusing them). Learnt; the rest comes in the next slice.
                    log.info("jira: %s searches reach %d results at most", self.site_url, start)
                    self.dc_search_window = start
                    window[0] = True
                return
            yield issues
            start += len(issues)

    def search_ids(self, where: str, page_size: int | None = None) -> Iterator[dict]:
        """`{"id", "key", "updated"}` for every issue of the JQL condition `where`, in
        `updated` order (then key), in large cheap pages.

        Cloud returns its largest pages (5,000) only when nothing but `id`/`key` is
        asked for, so `updated` is None there; Data Center adds it at no cost, and
        there the listing is cut into slices of `updated` to get past the search
        window (DC_SEARCH_WINDOW).
        """
        if self.is_cloud:
            for page in self.search_issues(where + LISTING_ORDER, ("id", "key"), page_size or 5000):
                for issue in page:
                    yield {"id": str(issue.get("id")), "key": issue.get("key"), "updated": None}
            return
        yield from self._search_ids_dc(where, page_size or 1000)

    def _search_ids_dc(self, where: str, size: int) -> Iterator[dict]:
        """Slices of at most `dc_search_window` results: each next slice starts a minute
        before the last `updated` seen (JQL dates may count in minutes), and the issues
        seen already are left out, unless their `updated` moved meanwhile (then they come
        again, as a listing shows an issue edited while it pages).

        More than a window of issues updated within a minute or so (a bulk change)
        cannot be sliced by time: those minutes are listed in slices of keys instead."""
        seen: dict[str, str | None] = {}
        lower: int | None = None
        retried = 0  # fresh items of this slice handed out before the window shrank
        while True:
            jql = where if lower is None else f"({where}) AND updated >= {lower}"
            window_full = [False, False]
            last_ms, fresh = None, retried
            retried = 0
            try:
                pages = self._search_dc_window(jql + LISTING_ORDER, "updated", size, window_full)
                for page in pages:
                    for issue in page:
                        item, moment = _listed_once(issue, seen)
                        last_ms = moment if moment is not None else last_ms
                        if item is not None:
                            fresh += 1
                            yield item
            except _WindowShrunk:
                # This slice again in the smaller window: `seen` skips what came, which
                # still counts as this slice's progress.
                retried = fresh
                continue
            if window_full[1]:
                yield SHIFTED
            if not window_full[0]:
                return
            if fresh and last_ms is not None:
                lower = last_ms - 60_000
                continue
            if lower is None or last_ms is None:
                raise JiraResponseError(
                    f"Jira at {self.site_url} answers searches without `updated`: a listing "
                    f"past {self.dc_search_window:,} issues cannot be cut into slices"
                )
            start, end = lower // 60_000 * 60_000, (last_ms // 60_000 + 1) * 60_000
            yield from self._search_ids_dc_by_key(where, start, end, seen, size)
            lower = end

    def _search_ids_dc_by_key(
        self, where: str, start_ms: int, end_ms: int, seen: dict, size: int
    ) -> Iterator[dict]:
        """The issues updated in [start_ms, end_ms), in slices of keys (`key > K`)."""
        after: str | None = None
        while True:
            jql = f"({where}) AND updated >= {start_ms} AND updated < {end_ms}"
            if after is not None:
                jql += f" AND key > {after}"
            window_full = [False, False]
            last_key = None
            try:
                for page in self._search_dc_window(
                    jql + " ORDER BY key ASC", "updated", size, window_full
                ):
                    for issue in page:
                        last_key = issue.get("key") or last_key
                        item, _ = _listed_once(issue, seen)
                        if item is not None:
                            yield item
            except _WindowShrunk:
                continue  # this slice again in the smaller window
            if window_full[1]:
                yield SHIFTED
            if not window_full[0]:
                return
            if last_key is None or last_key == after:
                raise JiraResponseError(
                    f"Jira at {self.site_url} keeps listing the same issues past its "
                    f"search window of {self.dc_search_window:,}: narrow the datasource's JQL"
                )
            after = last_key

    def count(self, jql: str) -> int:
        """Issue count: Cloud's approximate count, or DC's `total`."""
        if self.is_cloud:
            data = (
                self._json(
                    "POST",
                    "/rest/api/3/search/approximate-count",
                    json_body={"jql": jql},
                    idempotent=True,
                )
                or {}
            )
            return int(data.get("count") or 0)
        data = self._dc_search({"jql": jql, "maxResults": 0, "fields": "id"})
        return int(data.get("total") or 0)

    def bulkfetch(
        self,
        ids: Iterable[str | int],
        fields: Iterable[str] | str,
        decode: Callable[[Any], Any] | None = None,
    ) -> list[dict]:
        """Issues by id or key, 100 per call (Cloud bulkfetch; DC: `id in (...)` search).

        With `decode` (see `_json`) the items are whatever it makes of each page."""
        wanted = [str(i) for i in ids]
        field_list = [fields] if isinstance(fields, str) else list(fields)
        issues: list[dict] = []
        for start in range(0, len(wanted), BULKFETCH_CHUNK):
            issues.extend(
                self._fetch_chunk(wanted[start : start + BULKFETCH_CHUNK], field_list, decode)
            )
        return issues

    def _fetch_chunk(self, chunk: list[str], fields: list[str], decode) -> list:
        """One page of issues. A page holding an issue nested deeper than a JSON parser
        goes (ADF hundreds of levels deep, made through the API) cannot be read at all
        (RecursionError): it is fetched again by halves, so that one issue does not fail
        every sync; that issue is left out, as a missing one (the index keeps what it
        had of it: fetching it without its rich text would blank that)."""
        try:
            return self._fetch_chunk_once(chunk, fields, decode)
        except RecursionError:
            if len(chunk) > 1:
                half = len(chunk) // 2
                return [
                    *self._fetch_chunk(chunk[:half], fields, decode),
                    *self._fetch_chunk(chunk[half:], fields, decode),
                ]
        log.warning("jira: issue %s is nested too deeply to read: left out", chunk[0])
        with self._lock:
            self.unreadable.add(chunk[0])
        return []

    def unreadable_ids(self) -> set[str]:
        """The issues left out so far as too deeply nested to read (a copy: fetches
        on other threads may add to it meanwhile)."""
        with self._lock:
            return set(self.unreadable)

    def _fetch_chunk_once(self, chunk: list[str], fields: list[str], decode) -> list:
        if not self.is_cloud:
            return self._bulkfetch_dc(chunk, ",".join(fields), decode)
        if not self.bulkfetch_missing:
            try:
                return self._bulkfetch_cloud(chunk, fields, decode)
            except JiraError as exc:
                if getattr(exc, "status", None) not in ENDPOINT_MISSING:
                    raise
                log.info("jira: %s has no bulkfetch: fetching issues by search", self.site_url)
                self.bulkfetch_missing = True
        return self._fetch_by_search(chunk, fields, decode)

    def _bulkfetch_cloud(self, wanted: list[str], fields: list[str], decode) -> list:
        """One Cloud bulkfetch. Its `issueErrors` names issues Jira could not return
        this time, "due to a retriable error or payload constraint" (CLOUD-SPEC; an
        issue that is not found or may not be seen is simply absent): they are asked
        again on their own, a few times, then left out like a missing one."""
        found: list = []
        for attempt in range(BULKFETCH_ERROR_RETRIES + 1):
            if attempt:
                self._wait(self.retry.backoff(attempt))
            data = (
                self._json(
                    "POST",
                    "/rest/api/3/issue/bulkfetch",
                    json_body={"issueIdsOrKeys": wanted, "fields": fields},
                    idempotent=True,
                    decode=decode,
                )
                or {}
            )
            found.extend(_issues_of(data, decode is None))
            errors = data.get("issueErrors") if isinstance(data, dict) else None
            failed = [
                str(e["id"])
                for e in errors or []
                if isinstance(e, dict) and e.get("id") is not None
            ]
            if not failed:
                return found
            wanted = list(dict.fromkeys(failed))
        log.warning(
            "jira: %d issue(s) Jira could not return after %d tries: %s",
            len(wanted),
            BULKFETCH_ERROR_RETRIES + 1,
            ", ".join(wanted[:10]),
        )
        return found

    def _fetch_by_search(self, wanted: list[str], fields: list[str], decode) -> list:
        """Cloud issues by id through `search/jql`, for a site that answers bulkfetch
        with 404/405/501 (a Jira-compatible server or a proxy that has only search).
        Ids Jira says do not exist (deleted since listed) are asked again without,
        as bulkfetch leaves out the issues it cannot return."""
        while True:
            numeric = [i for i in wanted if i.isdigit()]
            keys = [validate_issue_key(i) for i in wanted if not i.isdigit()]
            clauses = [
                f"{name} in ({','.join(values)})"
                for name, values in (("id", numeric), ("key", keys))
                if values
            ]
            body: dict[str, Any] = {
                "jql": " OR ".join(clauses),
                "fields": fields,
                "maxResults": BULKFETCH_CHUNK,
            }
            found: list = []
            seen_tokens: set[str] = set()
            try:
                while True:
                    data = self._json(
                        "POST", "/rest/api/3/search/jql", json_body=body, idempotent=True,
                        decode=decode,
                    ) or {}  # fmt: skip
                    found.extend(_issues_of(data, decode is None))
                    token = data.get("nextPageToken")
                    if data.get("isLast") or not token or token in seen_tokens:
                        return found
                    seen_tokens.add(token)
                    body["nextPageToken"] = token
            except JiraBadRequestError as exc:
                missing = _missing_issues(getattr(exc, "messages", None) or [str(exc)])
                left = [i for i in wanted if i.upper() not in missing]
                if not missing or len(left) == len(wanted):
                    raise
                if not left:
                    return []
                wanted = left

    def _bulkfetch_dc(self, wanted: list[str], fields: str, decode) -> list:
        """Data Center has no bulkfetch: `id in (...)` search. Data Center refuses the
        whole search (400, "A value with ID 'N' does not exist for the field 'id'")
        when one issue is gone, which happens to any issue deleted between the
        listing and the fetch; `validateQuery=false` asks it for a warning instead,
        and a server that refuses all the same names the missing issues: the search
        is asked again without them, as the gone ones are simply not there."""
        while True:
            numeric = [i for i in wanted if i.isdigit()]
            keys = [validate_issue_key(i) for i in wanted if not i.isdigit()]
            clauses = []
            if numeric:
                clauses.append(f"id in ({','.join(numeric)})")
            if keys:
                clauses.append(f"key in ({','.join(keys)})")
            try:
                found: list = []
                pages = self._search_dc(
                    " OR ".join(clauses), fields, BULKFETCH_CHUNK, None, decode, validate=False
                )
                for page in pages:
                    found.extend(page)
                return found
            except JiraBadRequestError as exc:
                missing = _missing_issues(getattr(exc, "messages", None) or [str(exc)])
                left = [i for i in wanted if i.upper() not in missing]
                if not missing or len(left) == len(wanted):
                    raise
                log.info("jira: %d issues are gone since listed", len(wanted) - len(left))
                if not left:
                    return []
                wanted = left

"""Comments: reading an issue's thread page by page, and posting one, with the
look-up that tells whether a post whose answer was lost was made all the same.

`IssueComments` is a part of `JiraClient`.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from indexer.normalize import parse_jira_time

from .errors import (
    JiraBadRequestError,
    JiraError,
    JiraNotFoundError,
    JiraPermissionError,
    JiraResponseError,
    with_note,
)
from .http import RETRY_STATUSES_GATEWAY
from .search import validate_issue_key

log = logging.getLogger("jiradex.jira")

# A comment found after a lost answer counts only if created after the post started,
# less this much (Jira's clock and ours disagree a little).
LOST_REPLY_SKEW = timedelta(minutes=10)


def reply_may_be_lost(exc: JiraError) -> bool:
    """Whether a failed write may have been done by Jira all the same: the request
    went out and its answer was lost (a read timeout, a broken connection, a proxy
    that gave up waiting, a reply that is not the one asked for)."""
    if isinstance(exc, JiraResponseError):
        return True
    if getattr(exc, "status", None) in RETRY_STATUSES_GATEWAY:
        return True
    cause = exc.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(
        cause, (httpx.ConnectError, httpx.ConnectTimeout)
    )


def _reply_lost(exc: JiraError, note: str) -> JiraError:
    """`with_note`, marked as a write whose answer was lost (`reply_lost`): Jira may have
    done it, even when a look right after did not show it; `unnoted` is the message
    without the note, for callers that say what happens next in their own words."""
    noted = with_note(exc, note)
    noted.reply_lost = True
    noted.unnoted = str(exc)
    return noted


def _per_issue_limit(exc: JiraError, key: str) -> JiraError:
    """A 413 to a comment post: Jira Cloud's per-issue limit (5,000 comments) is
    reached (CLOUD-SPEC); the body itself is checked against Jira's size limit
    before posting, so "too large" would send the user shortening a result that
    can never be posted to this issue."""
    said = "; ".join(getattr(exc, "messages", None) or [])
    refused = JiraBadRequestError(
        f"Jira refused the comment on {key} (HTTP 413): the issue has reached Jira's "
        f"per-issue limit of comments (5,000 on Cloud){f': {said}' if said else ''}; "
        "nothing was posted"
    )
    refused.status = 413
    refused.messages = getattr(exc, "messages", None) or []
    return refused


def _words(text: str) -> str:
    return " ".join(text.split())


class IssueComments:
    """`JiraClient`'s comment reading and posting."""

    def comments(
        self,
        key_or_id: str,
        page_size: int = 100,
        *,
        start_at: int = 0,
        decode: Callable[[Any], Any] | None = None,
    ) -> list[dict]:
        """The comments of an issue from `start_at` on, oldest first, paging `/comment`
        to `total`. With `decode` (see `_json`) the items are what it makes of them.

        The first page gives `total` and the page size Jira grants (Cloud gives at
        most 100 whatever is asked); the other pages of a long thread are then
        fetched concurrently. A short page (the thread changed meanwhile) makes the
        rest go one page after another from where it ended."""
        key = validate_issue_key(key_or_id)

        def page_at(start: int) -> dict:
            return (
                self._json(
                    "GET",
                    self._api(f"/issue/{quote(key)}/comment"),
                    params={"startAt": start, "maxResults": page_size},
                    not_found=self._issue_not_found(key),
                    decode=decode,
                )
                or {}
            )

        data = page_at(start_at)
        out: list[dict] = list(data.get("comments") or [])
        start = int(data.get("startAt", start_at) or 0) + len(out)
        total = data.get("total")
        if not out or not isinstance(total, int) or start >= total:
            return out
        step = len(out)
        starts = list(range(start, total, step))
        if len(starts) > 1:
            for data in self.map_concurrent(page_at, starts):
                page = data.get("comments") or []
                out.extend(page)
                start += len(page)
                if len(page) < min(step, total - int(data.get("startAt", start) or 0)):
                    break  # a short page: the rest one after another from here
        while start < total:
            data = page_at(start)
            page = data.get("comments") or []
            out.extend(page)
            start = int(data.get("startAt", start) or 0) + len(page)
            total = data.get("total") if isinstance(data.get("total"), int) else start
            if not page:
                break
        return out

    def complete_comments(self, issue: dict) -> list[dict]:
        """The full comment list of a raw issue: the embedded page when it is complete,
        otherwise fetched from `/comment` (only when `total > len(comments)`)."""
        embedded = (issue.get("fields") or {}).get("comment")
        if isinstance(embedded, dict):
            listed = embedded.get("comments") or []
            total = embedded.get("total")
            if not isinstance(total, int) or total <= len(listed):
                return list(listed)
        elif isinstance(embedded, list):
            return list(embedded)
        return self.comments(str(issue.get("id") or issue.get("key")))

    def add_comment(self, key: str, markdown: str, *, known: Iterable[str] = ()) -> dict:
        """Post Markdown as a comment (ADF on v3, wiki markup on v2) -> `{"id", "url"}`.

        When the answer is lost, the comment is looked for before saying it failed
        (`known`: ids of earlier posts of the same text, which do not count)."""
        key = validate_issue_key(key)
        with self._posting():
            return self._post_comment(key, markdown, known)

    def _post_comment(self, key: str, markdown: str, known: Iterable[str]) -> dict:
        started = self._server_now()
        body = self._comment_body(markdown, key)
        try:
            data = (
                self._json(
                    "POST",
                    self._api(f"/issue/{quote(key)}/comment"),
                    json_body={"body": body},
                    idempotent=False,
                    not_found=self._issue_not_found(key),
                )
                or {}
            )
            comment_id = str(data.get("id") or "")
            if not comment_id:
                raise JiraResponseError(f"Jira did not return the new comment's id for {key}")
        except JiraError as exc:
            if getattr(exc, "status", None) == 413:
                raise _per_issue_limit(exc, key) from None
            if not reply_may_be_lost(exc):
                raise
            # The post may have reached Jira with only its answer lost: posting again
            # would show the comment twice, so look for it first.
            try:
                found = self.find_comment(
                    key, markdown, after=started - LOST_REPLY_SKEW, exclude=set(known)
                )
            except JiraError:
                raise _reply_lost(
                    exc,
                    f"the comment may have been posted: look at {self.browse_url(key)} "
                    "before posting again",
                ) from None
            if found is None:
                # Not there yet is not "not made": Jira may still be saving it.
                raise _reply_lost(exc, f"checked: the comment is not on {key}") from None
            log.info("jira: the answer to a post on %s was lost; the comment is there", key)
            return found
        return self._comment_link(key, comment_id)

    def _comment_body(self, markdown: str, key: str | None = None) -> Any:
        """What a comment of this Markdown on issue `key` is posted as: wiki markup on
        v2; ADF on v3, with the keys of the issue's project linked to the issue (as
        the wiki renderer links them on Data Center; a key of another project may be
        no issue of this site, `UTF-8`, and stays text)."""
        from indexer import markup  # written alongside; imported only when posting

        if not self.is_cloud:
            return markup.markdown_to_wiki(markdown)
        doc = markup.markdown_to_adf(markdown)
        if key:
            prefix = key.split("-")[0].upper() + "-"
            doc = markup.link_issue_keys(
                doc, lambda found: self.browse_url(found) if found.startswith(prefix) else None
            )
        return doc

    def _server_now(self) -> datetime:
        """Jira's clock as its last answer gave it (Date header), else ours: comment
        times are Jira's, so a comparison with them had better use its clock."""
        with contextlib.suppress(TypeError, ValueError):
            if self._server_date:
                when = email.utils.parsedate_to_datetime(self._server_date)
                return when if when.tzinfo else when.replace(tzinfo=UTC)
        return datetime.now(UTC)

    def comment_body(self, markdown: str, key: str | None = None) -> Any:
        """The body `add_comment(key, markdown)` sends (ADF on v3, wiki markup on v2),
        for checks before posting."""
        return self._comment_body(markdown, key)

    def server_now(self) -> datetime:
        """Jira's clock as its last answer gave it, else ours (see `_server_now`):
        task posting records when an attempt began by it."""
        return self._server_now()

    def _comment_link(self, key: str, comment_id: str) -> dict:
        return {"id": comment_id, "url": f"{self.browse_url(key)}?focusedCommentId={comment_id}"}

    def find_comment(
        self,
        key: str,
        markdown: str,
        *,
        after: datetime | None = None,
        exclude: set[str] | None = None,
        newest: int = 50,
    ) -> dict | None:
        """`{"id", "url"}` of the newest of the issue's last `newest` comments whose
        text is the text `add_comment(key, markdown)` posts, by this account when
        Jira says who that is, created after `after` and not in `exclude`; None when
        there is none."""
        key = validate_issue_key(key)
        from indexer import markup

        wanted = _words(markup.to_text(self._comment_body(markdown, key)))
        me = self._me_for_matching()
        data = (
            self._json(
                "GET",
                self._api(f"/issue/{quote(key)}/comment"),
                params={"orderBy": "-created", "maxResults": newest},
                not_found=self._issue_not_found(key),
            )
            or {}
        )
        comments = [c for c in data.get("comments") or [] if isinstance(c, dict)]
        comments.sort(key=lambda c: str(c.get("created") or ""), reverse=True)
        for comment in comments:
            author = comment.get("author") or {}
            if me and not any(
                author.get(field) == value for field, value in me.items() if value is not None
            ):
                continue
            ident = str(comment.get("id") or "")
            if not ident or ident in (exclude or ()):
                continue
            created = parse_jira_time(comment.get("created"))
            if after is not None and (created is None or created < after):
                continue
            if _words(markup.to_text(comment.get("body"))) == wanted:
                return self._comment_link(key, ident)
        return None

    def _me_for_matching(self) -> dict[str, str]:
        """This account's ids as a comment's `author` shows them ({} when unknown)."""
        try:
            me = self.myself() or {}
        except (JiraPermissionError, JiraNotFoundError):
            return {}
        fields = ("accountId",) if self.is_cloud else ("key", "name")
        return {field: me[field] for field in fields if isinstance(me.get(field), str)}

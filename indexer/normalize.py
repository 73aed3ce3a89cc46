"""Turn one raw Jira issue (v2 or v3 JSON) into the record the store keeps.

Jira payloads vary by deployment, version and configuration: fields may be missing,
null, or of an unexpected type (custom fields as strings, numeric ids). Everything
here is defensive: a strange field becomes an empty value, never an exception.
Huge texts are capped for the index (the full text stays in `raw`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from indexer.markup import to_markdown, to_text

# Text per field that goes into the index; beyond it a ticket is truncated for
# search (a 5 MB log pasted into a description must not stall a sync).
MAX_INDEXED_CHARS = 200_000
TRUNCATION_NOTE = "\n\n[jiradex: text truncated for the index]"


def normalize_issue(
    raw: dict[str, Any],
    *,
    datasource: str,
    site_url: str,
    comments: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One record per issue, in the shape docs/ENGINE.md describes.

    `comments` / `attachments` are the already-normalised lists when the datasource
    indexes them; None leaves them out of the record (the store keeps what it has).
    """
    fields = _as_dict(raw.get("fields"))
    key = _as_str(raw.get("key"))
    project = _name(fields.get("project"), "key") or (key.rsplit("-", 1)[0] if "-" in key else "")
    status = _as_dict(fields.get("status"))
    record: dict[str, Any] = {
        "id": _as_str(raw.get("id")),
        "key": key,
        "project": project,
        "datasource": datasource,
        "summary": _cap(_as_str(fields.get("summary")).strip()),
        "description": _cap(to_markdown(fields.get("description"))),
        "description_text": _cap(to_text(fields.get("description"))),
        "issuetype": _name(fields.get("issuetype")),
        "status": _name(status),
        "status_category": _name(status.get("statusCategory")),
        "priority": _name(fields.get("priority")),
        "assignee": user_name(fields.get("assignee")),
        "reporter": user_name(fields.get("reporter")),
        "labels": [str(label) for label in _as_list(fields.get("labels")) if label],
        "components": [_name(c) for c in _as_list(fields.get("components")) if _name(c)],
        "created": to_utc_iso(fields.get("created")),
        "updated": to_utc_iso(fields.get("updated")),
        "url": browse_url(site_url, key),
        "raw": _without_comment_bodies(raw),
    }
    if comments is not None:
        record["comments"] = comments
    if attachments is not None:
        record["attachments"] = attachments
    return storable_values(record)


def _without_comment_bodies(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw issue minus its embedded comment page: comments live in their own
    table, and their ADF is most of an issue's bytes (keeping it doubled the cost of
    every write). The page's counts stay so the raw JSON still says how many."""
    fields = raw.get("fields")
    if not isinstance(fields, dict) or not isinstance(fields.get("comment"), dict):
        return raw
    page = fields["comment"]
    kept = {k: v for k, v in page.items() if k != "comments"}
    kept["comments"] = []
    return {**raw, "fields": {**fields, "comment": kept}}


def normalize_comment(raw: dict[str, Any]) -> dict[str, Any]:
    raw = _as_dict(raw)
    created = to_utc_iso(raw.get("created"))
    updated = raw.get("updated") or raw.get("created")
    return storable_values(
        {
            "id": _as_str(raw.get("id")),
            "author": user_name(raw.get("author")),
            "created": created,
            # Most comments were never edited: the same moment need not be read twice
            # (the same text only: True == 1, yet True is no date and 1 is one).
            "updated": created if _same_text(updated, raw.get("created")) else to_utc_iso(updated),
            "body": _cap(to_markdown(raw.get("body"))),
            "body_text": _cap(to_text(raw.get("body"))),
        }
    )


def _same_text(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and a == b


def attachment_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    """Attachment fields from Jira; `text`/`indexed` are filled in by the sync."""
    raw = _as_dict(raw)
    size = raw.get("size")
    return {
        "id": _as_str(raw.get("id")) or _last_segment(raw.get("self")),
        "filename": _as_str(raw.get("filename")),
        "mimetype": _as_str(raw.get("mimeType")),
        "size": size if isinstance(size, int) else 0,
        "created": to_utc_iso(raw.get("created")),
        "author": user_name(raw.get("author")),
        "content_url": _as_str(raw.get("content")),
        "text": None,
        "indexed": False,
    }


def _last_segment(url: Any) -> str:
    """`10040` of `.../rest/api/2/attachment/10040`: older Jira (5.x, as captured in
    jira-fixtures) names an attachment by its `self` link only, without an `id`."""
    tail = _as_str(url).rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else ""


def embedded_comments(raw_issue: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The comment page embedded in an issue, and the total Jira says exists."""
    page = _as_dict(_as_dict(raw_issue.get("fields")).get("comment"))
    comments = [c for c in _as_list(page.get("comments")) if isinstance(c, dict)]
    total = page.get("total")
    return comments, total if isinstance(total, int) else len(comments)


def raw_attachments(raw_issue: dict[str, Any]) -> list[dict[str, Any]]:
    attachments = _as_dict(raw_issue.get("fields")).get("attachment")
    return [a for a in _as_list(attachments) if isinstance(a, dict)]


def browse_url(site_url: str, key: str) -> str:
    return f"{site_url.rstrip('/')}/browse/{key}" if key else ""


def user_name(user: Any) -> str:
    """Display name of a Jira user object (Cloud or DC), or '' for nobody."""
    if isinstance(user, str):
        return user
    user = _as_dict(user)
    for field in ("displayName", "name", "emailAddress", "accountId"):
        value = user.get(field)
        if isinstance(value, str) and value:
            return value
    return ""


def to_utc_iso(value: Any) -> str:
    """Jira timestamp ('2022-12-08T02:22:18.889-0800') -> '2022-12-08T10:22:18.889Z';
    '' for no date, garbage, or a date UTC cannot hold (year 1 with a +05:00 offset)."""
    try:
        return _to_utc_iso(value)
    except (OverflowError, OSError, ValueError):
        return ""


# For _to_utc_iso: "00".."99" -> its number and back, and Jira's UTC offsets ("-0800",
# as written) -> minutes east of UTC, read once each.
_TWO_DIGITS = {f"{n:02d}": n for n in range(100)}
_PADDED = [f"{n:02d}" for n in range(100)]
_SHIFTS: dict[str, int] = {}
_NO_SHIFT: Any = object()


def _to_utc_iso(value: Any) -> str:
    if type(value) is str and len(value) == 28 and value[10] == "T" and value[23] in "+-":
        # Jira's own form (every created/updated of every issue and comment): parse
        # and print it without the slower general path and strftime.
        try:
            moment = datetime.fromisoformat(value)  # validates; ~10x cheaper than printing
        except ValueError:
            moment = None
        if moment is not None:
            # Shift the clock in the string: same day in UTC is most cases. Two-digit
            # fields through tables: int() and %02d were most of this call's cost.
            shift = _SHIFTS.get(value[23:])
            if shift is None:
                offset = moment.utcoffset()
                shift = offset.days * 1440 + offset.seconds // 60 if offset else 0
                if offset and offset.seconds % 60:  # not whole minutes: no shortcut
                    shift = _NO_SHIFT
                elif len(_SHIFTS) < 1000:
                    _SHIFTS[value[23:]] = shift
            hour, minute = _TWO_DIGITS.get(value[11:13]), _TWO_DIGITS.get(value[14:16])
            if hour is not None and minute is not None and shift is not _NO_SHIFT:
                minutes = hour * 60 + minute - shift
                if 0 <= minutes < 1440:
                    return (
                        f"{value[:11]}{_PADDED[minutes // 60]}:{_PADDED[minutes % 60]}"
                        f"{value[16:23]}Z"
                    )
            return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"
    moment = parse_jira_time(value)
    if moment is None:
        return ""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_jira_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):  # an epoch out of any calendar
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Jira writes offsets as -0800; fromisoformat wants -08:00.
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def epoch_ms(iso_utc: str) -> int | None:
    moment = parse_jira_time(iso_utc)
    return int(moment.timestamp() * 1000) if moment else None


def storable(text: Any) -> Any:
    """A text with lone surrogates replaced (anything else as it is): JSON escapes
    carry half an emoji through when Jira cuts one in two (a long summary, a label,
    a file name), broken PDF font maps make them too, and SQLite cannot store them
    (one such issue failed every sync of its datasource)."""
    if type(text) is not str or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def storable_values(record: dict[str, Any]) -> dict[str, Any]:
    """`storable` for every text of a record (its top level), in place."""
    for name, value in record.items():
        if type(value) is str:
            record[name] = storable(value)
    return record


def _cap(text: str) -> str:
    if len(text) > MAX_INDEXED_CHARS:
        return text[:MAX_INDEXED_CHARS] + TRUNCATION_NOTE
    return text


def _name(value: Any, field: str = "name") -> str:
    if isinstance(value, str):
        return value
    value = _as_dict(value)
    found = value.get(field) or value.get("value") or ""
    return found if isinstance(found, str) else str(found)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)

"""One stored issue as the `show --json` document or as Markdown.

Shared by `jiradex show` and any front end that wants the same rendering; the input
is what `Store.get_issue()` returns.
"""

from __future__ import annotations

import re
from typing import Any

from indexer.localtime import shown_time

# ASCII punctuation Markdown may read as markup in a line of text (CommonMark lets
# any of it be backslash-escaped).
_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|~&!])")


def markdown_text(text: str) -> str:
    """Plain text (a summary, a name, a file name) that reads as written in Markdown:
    "Fix __init__ of Pool<T>" rendered as "Fix init of Pool" (bold, and an HTML tag)."""
    return _MARKUP.sub(r"\\\1", text)


def issue_json(issue: dict) -> dict[str, Any]:
    """The `show KEY --json` shape (ARCHITECTURE.md), plus project, datasource and
    components; text fields are Markdown."""
    return {
        "key": issue.get("key"),
        "id": issue.get("id"),
        "summary": issue.get("summary") or "",
        "description": issue.get("description") or "",
        "status": issue.get("status"),
        "priority": issue.get("priority"),
        "issuetype": issue.get("issuetype"),
        "assignee": issue.get("assignee"),
        "reporter": issue.get("reporter"),
        "labels": list(issue.get("labels") or []),
        "components": list(issue.get("components") or []),
        "project": issue.get("project"),
        "datasource": issue.get("datasource"),
        "created": issue.get("created"),
        "updated": issue.get("updated"),
        "url": issue.get("url"),
        "comments": [
            {
                "id": c.get("id"),
                "author": c.get("author"),
                "created": c.get("created"),
                "body": c.get("body") or c.get("body_text") or "",
            }
            for c in issue.get("comments") or []
        ],
        "attachments": [
            {
                "id": a.get("id"),
                "filename": a.get("filename"),
                "mimetype": a.get("mimetype"),
                "size": a.get("size"),
                "indexed": bool(a.get("indexed")),
            }
            for a in issue.get("attachments") or []
        ],
    }


def _when(stamp: str | None) -> str:
    """`2024-05-01T12:00:00.000Z` -> `2024-05-01 14:00 CEST`: local, as Jira shows."""
    return shown_time(stamp) if stamp else "?"


def human_size(size: Any) -> str:
    try:
        value = float(size)
    except (TypeError, ValueError):
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # unreachable


def issue_header(issue: dict) -> tuple[str, list[tuple[str, str]]]:
    """The issue's title (`KEY: summary`) and its facts as (name, value) pairs, as
    written (not Markdown); the last, when there is one, is its Link."""
    data = issue_json(issue)
    facts = [
        ("Status", data["status"]),
        ("Type", data["issuetype"]),
        ("Priority", data["priority"]),
        ("Assignee", data["assignee"] or "Unassigned"),
        ("Reporter", data["reporter"]),
        ("Labels", ", ".join(data["labels"])),
        ("Components", ", ".join(data["components"])),
        ("Created", _when(data["created"]) if data["created"] else None),
        ("Updated", _when(data["updated"]) if data["updated"] else None),
        ("Link", data["url"]),
    ]
    title = f"{data['key']}: {data['summary']}"
    return title, [(name, str(value)) for name, value in facts if value]


def issue_markdown(issue: dict, *, escape: bool = False) -> str:
    """The issue as a Markdown document: header facts, description, comments in
    order, attachments. With `escape`, for a Markdown renderer, the plain fields
    (summary, names, labels, file names) are escaped so they show as written; the
    description and comments are Markdown already."""
    plain = markdown_text if escape else str
    title, facts = issue_header(issue)
    lines = [f"# {plain(title)}", ""]
    for name, value in facts:
        lines.append(f"- **{name}:** {value if name == 'Link' else plain(value)}")
    return "\n".join(lines) + "\n\n" + issue_markdown_body(issue, escape=escape)


def issue_markdown_body(issue: dict, *, escape: bool = False) -> str:
    """issue_markdown from its Description heading on (what follows the facts)."""
    data = issue_json(issue)
    plain = markdown_text if escape else str
    lines = ["## Description", ""]
    lines.append(data["description"].strip() or "_No description._")
    if data["comments"]:
        lines += ["", f"## Comments ({len(data['comments'])})"]
        for c in data["comments"]:
            author = plain(c["author"] or "Unknown")
            lines += ["", f"### {author}, {_when(c['created'])}", ""]
            lines.append((c["body"] or "").strip() or "_Empty comment._")
    if data["attachments"]:
        lines += ["", f"## Attachments ({len(data['attachments'])})", ""]
        for a in data["attachments"]:
            note = "text indexed" if a["indexed"] else "not indexed"
            kind = plain(a["mimetype"] or "unknown type")
            name = plain(str(a["filename"]))
            lines.append(f"- {name} ({kind}, {human_size(a['size'])}, {note})")
    return "\n".join(lines).rstrip() + "\n"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^#{1,6} ")


def _starts_block(line: str, after_blank: bool, paragraphs: bool) -> bool:
    """A place first_and_rest may cut before (outside a code fence)."""
    if _HEADING.match(line):
        return True
    return paragraphs and after_blank and line.strip() != "" and line[0] not in " \t"


def first_and_rest(
    markdown: str, first_chars: int, chunk_chars: int, *, paragraphs: bool = False
) -> tuple[str, list[str]]:
    """`markdown` cut where a heading starts (outside code fences), as a first part of
    about `first_chars` and the rest in parts of about `chunk_chars`: a renderer that
    builds a widget per block shows the first part at once and adds the others. The
    parts joined are `markdown`.

    With `paragraphs`, also where a block starts after a blank line (not indented: a
    list item's or a code block's own lines stay with it), for a description that
    has no headings: most have none."""
    parts: list[str] = []
    start = 0
    fence: str | None = None
    at = 0
    budget = first_chars
    after_blank = False
    for line in markdown.splitlines(keepends=True):
        opener = _FENCE.match(line)
        if fence is None and at - start >= budget and _starts_block(line, after_blank, paragraphs):
            parts.append(markdown[start:at])
            start, budget = at, chunk_chars
        if opener and (fence is None or opener.group(1)[0] == fence):
            fence = None if fence else opener.group(1)[0]
        after_blank = not line.strip()
        at += len(line)
    parts.append(markdown[start:])
    return parts[0], parts[1:]

"""One stored issue as the `show --json` document or as Markdown.

Shared by `jiradex show` and any front end that wants the same rendering; the input
is what `Store.get_issue()` returns.
"""

from __future__ import annotations

from typing import Any


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
    """`2024-05-01T12:00:00.000Z` -> `2024-05-01 12:00` (UTC, as stored)."""
    if not stamp:
        return "?"
    text = str(stamp).replace("T", " ")
    return text[:16]


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


def issue_markdown(issue: dict) -> str:
    """The issue as a Markdown document: header facts, description, comments in
    order, attachments."""
    data = issue_json(issue)
    lines = [f"# {data['key']}: {data['summary']}", ""]
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
    lines.extend(f"- **{name}:** {value}" for name, value in facts if value)
    lines += ["", "## Description", ""]
    lines.append(data["description"].strip() or "_No description._")
    if data["comments"]:
        lines += ["", f"## Comments ({len(data['comments'])})"]
        for c in data["comments"]:
            lines += ["", f"### {c['author'] or 'Unknown'}, {_when(c['created'])}", ""]
            lines.append((c["body"] or "").strip() or "_Empty comment._")
    if data["attachments"]:
        lines += ["", f"## Attachments ({len(data['attachments'])})", ""]
        for a in data["attachments"]:
            note = "text indexed" if a["indexed"] else "not indexed"
            kind = a["mimetype"] or "unknown type"
            lines.append(f"- {a['filename']} ({kind}, {human_size(a['size'])}, {note})")
    return "\n".join(lines).rstrip() + "\n"

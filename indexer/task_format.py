"""Turn an issue record into the Markdown instructions an agent or a person receives.

The layout is fixed so agents can rely on it: a level-1 heading with the title, a
facts list, `## Description`, `## Comments` (when asked), and `## Additional
instructions` last. Headings inside the description, comments and additional
instructions are pushed below ours so they never compete with the sections.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

NO_DESCRIPTION = "_No description._"
NO_COMMENTS = "_No comments._"
COMMENTS_UNAVAILABLE = (
    "_The comments were asked for, but could not be fetched from Jira when this task "
    "was made: the issue may have some._"
)
OBJECTIVE_NOTE = (
    "This is an **objective**: a larger piece of work. Plan it, split it into steps, "
    "and report what was done and what is left."
)

_parser = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def task_title(record: dict[str, Any]) -> str:
    """`KEY: summary`, the title every task carries."""
    key = str(record.get("key") or "").strip()
    summary = " ".join(str(record.get("summary") or "").split())
    return f"{key}: {summary}" if summary else key


def format_instructions(
    record: dict[str, Any],
    *,
    url: str,
    include_comments: bool = False,
    extra: str | None = None,
    objective: bool = False,
) -> str:
    """The task's instructions as Markdown, built from a normalised issue record."""
    parts = [f"# {task_title(record)}"]
    if objective:
        parts.append(OBJECTIVE_NOTE)
    parts.append(facts_block(record, url))
    description = (record.get("description") or "").strip()
    parts.append("## Description")
    parts.append(demote_headings(description, below=2) if description else NO_DESCRIPTION)
    if include_comments:
        parts.append("## Comments")
        if record.get("comments"):
            parts.append(comments_markdown(record["comments"]))
        else:
            unavailable = record.get("comments_unavailable")
            parts.append(COMMENTS_UNAVAILABLE if unavailable else NO_COMMENTS)
    if extra and extra.strip():
        parts.append("## Additional instructions")
        parts.append(demote_headings(extra.strip(), below=2))
    return "\n\n".join(parts) + "\n"


def comments_markdown(comments: list[dict[str, Any]]) -> str:
    """The comments, oldest first, each under a heading with its author and time
    (the task's `## Comments` section, and the import preview's)."""
    parts = []
    for comment in sorted(comments, key=lambda c: c.get("created") or ""):
        parts.append(comment_heading(comment))
        body = (comment.get("body") or "").strip()
        parts.append(demote_headings(body, below=3) if body else "_(empty comment)_")
    return "\n\n".join(parts)


def facts_block(record: dict[str, Any], url: str) -> str:
    labels = [str(label) for label in record.get("labels") or [] if str(label).strip()]
    facts = [
        ("Type", record.get("issuetype") or "Unknown"),
        ("Status", record.get("status") or "Unknown"),
        ("Priority", record.get("priority") or "None"),
        ("Assignee", record.get("assignee") or "Unassigned"),
        ("Labels", ", ".join(labels) if labels else "None"),
        ("Link", url or "(no link)"),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in facts)


def comment_heading(comment: dict[str, Any]) -> str:
    author = comment.get("author") or "Unknown"
    when = readable_time(comment.get("created") or "")
    return f"### {author} · {when}" if when else f"### {author}"


def readable_time(iso: str) -> str:
    """'2024-05-01T12:00:00.000Z' -> '2024-05-01 12:00 UTC'; other text unchanged."""
    text = str(iso or "").strip()
    if len(text) >= 16 and text[10] == "T" and text.endswith("Z"):
        return f"{text[:10]} {text[11:16]} UTC"
    return text


def demote_headings(markdown: str, below: int) -> str:
    """Shift ATX headings so the shallowest becomes level `below + 1` (at most 6).

    The parser tells which lines are headings, so `#` inside code blocks is left
    alone. Setext headings (underlined) become ATX at the right level. A heading
    inside a blockquote or a list item keeps its container prefix (`> `, `- `).
    """
    tokens = _parser.parse(markdown)
    headings = [t for t in tokens if t.type == "heading_open" and t.map]
    if not headings:
        return markdown
    shallowest = min(int(t.tag[1]) for t in headings)
    shift = max(0, below + 1 - shallowest)
    if shift == 0:
        return markdown
    lines = markdown.split("\n")
    dropped: set[int] = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or not token.map:
            continue
        level = min(6, int(token.tag[1]) + shift)
        start, end = token.map
        if token.markup.startswith("#"):
            # Container markers (`>`, `-`, `1.`, spaces) hold no `#`: the first one
            # opens the heading, and only its run of `#` changes.
            line = lines[start]
            at = line.find("#")
            if at < 0:
                continue
            lines[start] = line[:at] + "#" * level + line[at + len(token.markup) :]
        else:  # setext: text lines then an underline of = or -
            content = tokens[index + 1].content if index + 1 < len(tokens) else ""
            first = content.split("\n", 1)[0].strip()
            at = lines[start].find(first) if first else -1
            prefix = lines[start][:at] if at > 0 else ""
            text = " ".join(part.strip() for part in content.split("\n"))
            lines[start] = prefix + "#" * level + " " + text
            dropped.update(range(start + 1, end))
    return "\n".join(line for index, line in enumerate(lines) if index not in dropped)

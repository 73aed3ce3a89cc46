"""Render Atlassian Document Format (ADF) as Markdown (for display) or plain text (for the index).

Jira payloads are trusted for shape only loosely: any node may lack keys, carry the wrong
types or be of a kind we do not know. Unknown nodes render their inner text. Nesting
deeper than ``MAX_DEPTH`` is flattened to plain text, so hostile documents cannot cause a
RecursionError.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 48

PANEL_LABELS = {
    "info": "Info",
    "note": "Note",
    "tip": "Tip",
    "warning": "Warning",
    "error": "Error",
    "success": "Success",
}

# Block-level node types: in plain text they sit on lines of their own.
_BLOCK_TYPES = frozenset(
    {
        "doc",
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "listItem",
        "taskList",
        "taskItem",
        "blockTaskItem",
        "decisionList",
        "decisionItem",
        "codeBlock",
        "blockquote",
        "panel",
        "rule",
        "table",
        "tableRow",
        "expand",
        "nestedExpand",
        "mediaSingle",
        "mediaGroup",
        "blockCard",
        "embedCard",
        "layoutSection",
        "layoutColumn",
        "bodiedExtension",
        "extension",
        "caption",
    }
)
_CELL_TYPES = frozenset({"tableCell", "tableHeader"})


# ---------------------------------------------------------------------------
# Small accessors that never raise


def _kind(node: Any) -> str:
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str):
            return kind
    return ""


def _attrs(node: Any) -> dict:
    attrs = node.get("attrs") if isinstance(node, dict) else None
    return attrs if isinstance(attrs, dict) else {}


def _children(node: Any) -> list:
    if isinstance(node, list):
        return node
    content = node.get("content") if isinstance(node, dict) else None
    return content if isinstance(content, list) else []


def _attr_str(node: Any, *names: str) -> str:
    attrs = _attrs(node)
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return ""


def format_timestamp(value: Any) -> str:
    """ADF dates carry epoch milliseconds (usually as a string); show them as YYYY-MM-DD."""
    try:
        millis = int(float(value))
        return datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value) if value not in (None, "") else ""


# ---------------------------------------------------------------------------
# Leaf rendering shared by both outputs

# The kinds `_leaf_text` knows (it returns None for every other kind).
_LEAF_TYPES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "blockCard",
        "embedCard",
        "status",
        "date",
        "media",
        "mediaInline",
        "placeholder",
        "inlineExtension",
        "extension",
    }
)


def _leaf_text(node: dict, kind: str, markdown: bool) -> str | None:
    """Text for nodes that carry their words in attrs; None when the node is not such a leaf."""
    if kind == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        name = _attr_str(node, "text", "displayName", "id")
        return (name if name.startswith("@") else "@" + name) if name else ""
    if kind == "emoji":
        return _attr_str(node, "text", "shortName")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        url = _attr_str(node, "url")
        if not url:
            data = _attrs(node).get("data")
            if isinstance(data, dict):
                url = str(data.get("url") or data.get("name") or "")
        return url
    if kind == "status":
        text = _attr_str(node, "text")
        return f"[{text.upper()}]" if markdown and text else text
    if kind == "date":
        return format_timestamp(_attrs(node).get("timestamp"))
    if kind in ("media", "mediaInline"):
        name = _attr_str(node, "alt", "filename", "name", "title")
        if markdown:
            url = _attr_str(node, "url")
            label = name or "attachment"
            return f"[{label}]({url})" if url else f"[{label}]"
        return name
    if kind == "placeholder":
        return _attr_str(node, "text")
    if kind == "inlineExtension" or kind == "extension":
        return _attr_str(node, "text") if not _children(node) else None
    return None


# ---------------------------------------------------------------------------
# Plain text (iterative, so depth is never a problem)


def adf_to_text(doc: Any) -> str:
    """Readable words of an ADF document, one block per line, no Markdown syntax."""
    if not isinstance(doc, dict | list):
        return ""
    try:
        return _text(doc)
    except Exception:  # noqa: BLE001 - the contract is "never raise"
        return ""


_LEAVE_CELL = object()


class _Emit(str):
    """Text queued on the stack by the walker itself (raw strings in content are garbage)."""


_EMIT = {sep: _Emit(sep) for sep in (" ", "\n")}  # the block separators, made once


def _text(doc: Any) -> str:
    out: list[str] = []
    cell_depth = 0  # inside table cells, blocks are separated by spaces so a row stays a line
    # Stack items are nodes, strings to emit after a node's children, or _LEAVE_CELL.
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if type(item) is dict:  # the common case first: this loop runs per node of every text
            kind = item.get("type")
            if kind == "text":
                text = item.get("text")
                if type(text) is str and not item.get("marks"):
                    out.append(text)
                else:
                    out.append(_plain_text_node(item))
                continue
            if not isinstance(kind, str):
                kind = ""
        elif item is _LEAVE_CELL:
            cell_depth -= 1
            out.append("\x1f")
            continue
        elif isinstance(item, _Emit):
            out.append(item if not cell_depth else item.replace("\n", " "))
            continue
        elif isinstance(item, list):
            stack.extend(reversed(item))
            continue
        elif isinstance(item, dict):
            kind = _kind(item)
            if kind == "text":
                out.append(_plain_text_node(item))
                continue
        else:
            continue
        block_sep = " " if cell_depth else "\n"
        leaf = _leaf_text(item, kind, markdown=False) if kind in _LEAF_TYPES else None
        if kind in ("blockCard", "embedCard", "inlineCard"):
            sep = " " if kind == "inlineCard" else block_sep
            out.append(sep + (leaf or "") + sep)
            continue
        if leaf is not None:
            out.append(leaf if not cell_depth else leaf.replace("\n", " "))
            continue
        if kind in _CELL_TYPES:
            cell_depth += 1
            out.append("\x1f")
            stack.append(_LEAVE_CELL)
        elif kind in _BLOCK_TYPES or not kind:
            out.append(block_sep)
            stack.append(_EMIT[block_sep])
        if kind in ("expand", "nestedExpand", "panel"):
            title = _attr_str(item, "title")
            if title:
                out.append(title + block_sep)
        stack.extend(reversed(_children(item)))
    return _tidy_text("".join(out))


def _plain_text_node(node: dict) -> str:
    """A text node's words, plus the link target when the words do not already show it."""
    text = node.get("text")
    text = text if isinstance(text, str) else ""
    marks = node.get("marks")
    if isinstance(marks, list):
        for mark in marks:
            if _kind(mark) == "link":
                href = _attr_str(mark, "href")
                if href and href not in text:
                    return f"{text} ({href})" if text.strip() else href
    return text


_CELL_GAP = re.compile(r"[ \t]*\x1f(?:[ \t]*\x1f)*[ \t]*")


def _tidy_line(line: str) -> str:
    if "\x1f" in line:  # a table row: cells two spaces apart
        return _CELL_GAP.sub("  ", line).strip()
    return line.rstrip()


def _tidy_text(text: str) -> str:
    if "\x1f" not in text:  # no table: every line only loses its trailing blanks
        return "\n".join([line for line in map(str.rstrip, text.split("\n")) if line]).strip()
    lines = (_tidy_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip()).strip()


# ---------------------------------------------------------------------------
# Markdown


_INLINE_SPECIALS = re.compile(r"([\\`*\[\]])|(_)|(<)(?=[A-Za-z/!?])|(~~)")
_LINE_START = re.compile(
    r"^(\s{0,3})(#{1,6}(?:\s|$)|>|[-+*](?:\s|$)|\d{1,9}[.)](?:\s|$)|=+\s*$|-+\s*$)"
)


_MAYBE_SPECIAL = re.compile(r"[\\`*\[\]_<~]")


def escape_markdown(text: str) -> str:
    """Escape characters that Markdown would read as syntax, keeping ordinary words readable."""
    if not _MAYBE_SPECIAL.search(text):  # most text: nothing to escape
        return text

    def repl(match: re.Match) -> str:
        if match.group(1):
            return "\\" + match.group(1)
        if match.group(2):
            start = match.start()
            before = text[start - 1] if start > 0 else " "
            after = text[start + 1] if start + 1 < len(text) else " "
            if before.isalnum() and after.isalnum():
                return "_"  # intraword underscore is never emphasis
            return "\\_"
        if match.group(3):
            return "\\<"
        return "\\~\\~"

    return _INLINE_SPECIALS.sub(repl, text)


def _escape_line_start(line: str) -> str:
    match = _LINE_START.match(line)
    if not match:
        return line
    indent, marker = match.group(1), match.group(2)
    rest = line[match.end() :]
    if marker[0].isdigit():
        digits = marker.rstrip(".) \t")
        return indent + digits + "\\" + marker[len(digits) :] + rest
    return indent + "\\" + marker + rest


def _escape_line_starts(text: str) -> str:
    if "\n" not in text:  # most paragraphs: one line
        return _escape_line_start(text)
    return "\n".join(_escape_line_start(line) for line in text.split("\n"))


def adf_to_markdown(doc: Any) -> str:
    """Markdown for an ADF document; never raises."""
    try:
        renderer = _MarkdownRenderer()
        return renderer.blocks(_children(doc) if _kind(doc) == "doc" else [doc], 0).strip("\n")
    except Exception:  # noqa: BLE001 - the contract is "never raise"
        return escape_markdown(adf_to_text(doc))


class _MarkdownRenderer:
    """Recursive Markdown writer; depth beyond MAX_DEPTH falls back to plain text."""

    def blocks(self, nodes: list, depth: int) -> str:
        parts = []
        pending_inline: list = []
        for node in nodes:
            if _kind(node) in _INLINE_TYPES:
                pending_inline.append(node)
                continue
            if pending_inline:
                parts.append(self.paragraph(pending_inline))
                pending_inline = []
            rendered = self.block(node, depth + 1)
            if rendered.strip():
                parts.append(rendered)
        if pending_inline:
            parts.append(self.paragraph(pending_inline))
        return "\n\n".join(p for p in parts if p.strip())

    def block(self, node: Any, depth: int) -> str:
        if not isinstance(node, dict):
            return ""
        if depth > MAX_DEPTH:
            return _escape_line_starts(escape_markdown(_text(node)))
        kind = _kind(node)
        children = _children(node)
        if kind == "paragraph":
            return self.paragraph(children)
        if kind == "heading":
            level = _attrs(node).get("level")
            level = level if isinstance(level, int) and 1 <= level <= 6 else 1
            text = self.inline(children).replace("\\\n", " ").replace("\n", " ").strip()
            return "#" * level + " " + text if text else ""
        if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
            return self.list(node, kind, depth)
        if kind == "codeBlock":
            return self.code_block(node)
        if kind == "blockquote":
            return _quote(self.blocks(children, depth))
        if kind == "panel":
            return self.panel(node, depth)
        if kind == "rule":
            return "---"
        if kind == "table":
            return self.table(node, depth)
        if kind in ("expand", "nestedExpand"):
            title = _attr_str(node, "title")
            body = self.blocks(children, depth)
            head = f"**{escape_markdown(title)}**" if title else ""
            return "\n\n".join(p for p in (head, body) if p)
        if kind in ("mediaSingle", "mediaGroup"):
            items = [self.inline([c]) for c in children if _kind(c) in ("media", "mediaInline")]
            captions = [self.inline(_children(c)) for c in children if _kind(c) == "caption"]
            return "\n".join(i for i in items + captions if i) or "[attachment]"
        if kind in ("blockCard", "embedCard"):
            url = _leaf_text(node, kind, markdown=True) or ""
            return _url_markdown(url)
        leaf = _leaf_text(node, kind, markdown=True)
        if leaf is not None:
            return self.paragraph([node])
        # Unknown container (layoutSection, extensions, ...): render what is inside.
        return self.blocks(children, depth)

    def paragraph(self, inline_nodes: list) -> str:
        text = self.inline(inline_nodes)
        text = text.strip(" ")
        return _escape_line_starts(text) if text.strip() else ""

    def inline(self, nodes: list) -> str:
        """Inline nodes as Markdown; runs of nodes sharing a link or emphasis share delimiters.

        Jira splits text wherever marks change (``bold`` then ``bold italic``), so marks are
        opened and closed across node boundaries instead of per node: ``**a*b***`` rather
        than ``**a*****b***``, which CommonMark would misread.
        """
        plain = _plain_run(nodes)
        if plain is not None:
            while plain.endswith("\\\n"):
                plain = plain[:-2]
            return plain
        items = [n for n in nodes if isinstance(n, dict)]
        hrefs = [_link_href(n) for n in items]
        out: list[str] = []
        i = 0
        while i < len(items):
            href = hrefs[i]
            j = i + 1
            while j < len(items) and hrefs[j] == href:
                j += 1
            piece = self.link(items[i:j], href) if href else self.marked(items[i:j])
            if out and out[-1].endswith("!") and piece.startswith("["):
                out[-1] = out[-1][:-1] + "\\!"  # "!" before "[" would make an image
            out.append(piece)
            i = j
        text = "".join(out)
        while text.endswith("\\\n"):
            text = text[:-2]
        return text

    def link(self, group: list, href: str) -> str:
        if len(group) == 1 and _kind(group[0]) == "text":
            raw = group[0].get("text")
            if raw == href and not set(_mark_types(group[0])) - {"link"} and _AUTOLINK.match(href):
                return f"<{href}>"  # a bare URL: autolink keeps it readable and clickable
        inner = self.marked(group)
        if not inner.strip():
            return inner
        lead = inner[: len(inner) - len(inner.lstrip())]
        trail = inner[len(inner.rstrip()) :]
        return f"{lead}[{inner.strip()}]({_link_target(href)}){trail}"

    def marked(self, group: list) -> str:
        """Text with emphasis delimiters opened and closed as the marks change."""
        buf = ""
        stack: list[str] = []

        def close_to(keep: int) -> None:
            nonlocal buf
            if keep >= len(stack):
                return
            # Delimiters must hug text: move trailing spaces and line breaks after them.
            tail = _TRAILING_GAP.search(buf)
            gap = tail.group(0) if tail else ""
            buf = buf[: len(buf) - len(gap)]
            while len(stack) > keep:
                buf += _DELIMS[stack.pop()]
            buf += gap

        for node in _merge_code(group):
            kind = _kind(node)
            want: list[str] | None
            blank = False
            if kind == "text":
                raw = node.get("text")
                if not isinstance(raw, str) or not raw:
                    continue
                types = _mark_types(node)
                want = [m for m in _MARK_ORDER if m in types] if types else []
                if "code" in types:
                    body = _code_span(raw)
                elif not raw.strip():
                    # Blanks never open a mark (delimiters must hug text) but keep open
                    # the marks they share with their neighbours: "**a b**", not "**a** **b**".
                    want, body = [m for m in stack if m in types], raw
                    blank = True
                else:
                    body = escape_markdown(raw)
            elif kind == "hardBreak":
                want, body = None, "\\\n"
            else:
                want, body = [], self.inline_leaf(node, kind)
                if kind == "inlineCard" and buf and not buf[-1].isspace() and body:
                    body = " " + body  # Jira shows a card as a chip, never glued to a word
            if want is not None:
                keep = 0
                while keep < len(stack) and stack[keep] in want:
                    keep += 1
                if keep < len(stack):
                    close_to(keep)
                opening = [] if blank else [m for m in want if m not in stack]
                if opening:
                    lead = body[: len(body) - len(body.lstrip())]
                    buf += lead
                    body = body[len(lead) :]
                    for mark in opening:
                        buf += _DELIMS[mark]
                        stack.append(mark)
            buf += body
        close_to(0)
        return buf

    def inline_leaf(self, node: dict, kind: str) -> str:
        if kind == "inlineCard":
            url = _leaf_text(node, kind, markdown=True) or ""
            return _url_markdown(url)
        if kind in ("media", "mediaInline"):
            return _leaf_text(node, kind, markdown=True) or ""
        leaf = _leaf_text(node, kind, markdown=True)
        if leaf is None:
            leaf = _text(node)
        return escape_markdown(leaf)

    def list(self, node: dict, kind: str, depth: int) -> str:
        start = _attrs(node).get("order")
        number = start if isinstance(start, int) and start >= 0 else 1
        items = []
        indent = "  "
        for item in _children(node):
            if _kind(item) in ("bulletList", "orderedList", "taskList", "decisionList"):
                # A list straight inside a list (how ADF nests task lists): it belongs
                # to the item above, so it is indented under it, without a marker.
                nested = self.block(item, depth + 1)
                if nested.strip():
                    items.append(
                        "\n".join(indent + line if line else "" for line in nested.split("\n"))
                    )
                continue
            if kind == "orderedList":
                marker = f"{number}. "
                number += 1
            elif kind == "taskList" and _kind(item) == "taskItem":
                done = _attrs(item).get("state") == "DONE"
                marker = "- [x] " if done else "- [ ] "
            else:
                marker = "- "
            if _kind(item) in ("listItem", "taskItem", "decisionItem", "blockTaskItem"):
                body = self.item_body(_children(item), depth)
            else:
                body = self.block(item, depth + 1)
            pad = " " * len(marker)
            indent = pad if kind == "orderedList" else "  "
            lines = body.split("\n") if body else [""]
            rendered = (
                marker
                + lines[0]
                + "".join("\n" + (pad + line if line else "") for line in lines[1:])
            )
            items.append(rendered.rstrip())
        return "\n".join(items)

    def item_body(self, children: list, depth: int) -> str:
        """List items render tight: a paragraph followed by its nested list on the next line.

        A taskItem or decisionItem holds its inline nodes straight (no paragraph):
        a run of them is one paragraph, however many nodes the marks split it into."""
        parts: list[str] = []
        run: list = []
        for index, child in enumerate(children):
            if _is_inline(child):
                run.append(child)
                if index + 1 < len(children) and _is_inline(children[index + 1]):
                    continue
                parts.append(self.paragraph(run))
                run = []
                continue
            rendered = self.block(child, depth + 1)
            if not rendered.strip():
                continue
            if parts and _kind(child) not in ("bulletList", "orderedList", "taskList"):
                parts.append("")  # blank line keeps a second paragraph apart
            parts.append(rendered)
        return "\n".join(parts)

    def code_block(self, node: dict) -> str:
        language = _attr_str(node, "language")
        text = "".join(
            c.get("text", "") if isinstance(c.get("text"), str) else ""
            for c in _children(node)
            if isinstance(c, dict)
        ).rstrip("\n")
        fence = "```"
        while fence in text:
            fence += "`"
        language = re.sub(r"[\s`]+", "", language)
        body = text + "\n" if text else ""
        return f"{fence}{language}\n{body}{fence}"

    def panel(self, node: dict, depth: int) -> str:
        attrs = _attrs(node)
        panel_type = attrs.get("panelType") if isinstance(attrs.get("panelType"), str) else ""
        label = _attr_str(node, "title") or PANEL_LABELS.get(panel_type, "Note")
        body = self.blocks(_children(node), depth)
        head = f"**{escape_markdown(label)}:**"
        first = next((c for c in _children(node) if isinstance(c, dict)), None)
        if body and _kind(first) == "paragraph":
            body = f"{head} {body}"
        else:  # a fence or list cannot share the label's line
            body = f"{head}\n\n{body}" if body else head
        return _quote(body)

    def table(self, node: dict, depth: int) -> str:
        rows: list[list[str]] = []
        header_first = False
        for index, row in enumerate(_children(node)):
            cells = [c for c in _children(row) if isinstance(c, dict)]
            if not cells:
                continue
            if index == 0:
                header_first = all(_kind(c) == "tableHeader" for c in cells)
            rows.append([self.cell(c, depth) for c in cells])
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        if header_first:
            header, body = rows[0], rows[1:]
        else:
            header, body = [""] * width, rows
        lines = [_pipe_row(header), _pipe_row(["---"] * width)]
        lines.extend(_pipe_row(r) for r in body)
        return "\n".join(lines)

    def cell(self, cell: dict, depth: int) -> str:
        text = self.blocks(_children(cell), depth + 1)
        text = re.sub(r"\\\n", " ", text)
        text = re.sub(r"\s*\n\s*", " ", text).strip()
        return text.replace("|", "\\|")


def _pipe_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _quote(body: str) -> str:
    if not body:
        return ""
    return "\n".join("> " + line if line else ">" for line in body.split("\n"))


def _code_span(text: str) -> str:
    text = text.replace("\n", " ")
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


_AUTOLINK = re.compile(r"^[a-z][a-z0-9+.-]{1,31}:[^\s<>]+$", re.I)


def _url_markdown(url: str) -> str:
    """A card's address: an autolink when CommonMark accepts it, else escaped text."""
    return f"<{url}>" if _AUTOLINK.match(url) else escape_markdown(url)


def _link_target(href: str) -> str:
    if re.search(r"[\s()<>]", href):
        return "<" + href.replace("<", "%3C").replace(">", "%3E") + ">"
    return href


_INLINE_TYPES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "status",
        "date",
        "mediaInline",
        "placeholder",
        "inlineExtension",
    }
)


_MARK_ORDER = ("strong", "em", "strike")
_DELIMS = {"strong": "**", "em": "*", "strike": "~~"}
_TRAILING_GAP = re.compile(r"(?:[ \t\n]|\\\n)*\Z")


def _mark_types(node: Any) -> list[str]:
    marks = node.get("marks") if isinstance(node, dict) else None
    if not isinstance(marks, list):
        return []
    return [m["type"] for m in marks if isinstance(m, dict) and isinstance(m.get("type"), str)]


def _merge_code(group: list) -> list:
    """Join neighbouring code text with the same marks: adjacent spans would fuse badly."""
    if not any(map(_has_marks, group[1:], group)):  # no two marked nodes side by side
        return group
    merged: list = []
    for node in group:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and _kind(node) == "text"
            and _kind(previous) == "text"
            and "code" in _mark_types(node)
            and sorted(_mark_types(node)) == sorted(_mark_types(previous))
            and isinstance(node.get("text"), str)
            and isinstance(previous.get("text"), str)
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(node)
    return merged


def _has_marks(node: Any, before: Any) -> bool:
    """True when both nodes carry marks (what two code spans to merge must)."""
    return (
        isinstance(node, dict)
        and isinstance(before, dict)
        and bool(node.get("marks"))
        and bool(before.get("marks"))
    )


def _plain_run(nodes: list) -> str | None:
    """Markdown of a run of text nodes without marks (most paragraphs), or None when a
    node has marks or is not text: what `marked` makes of such a run, without its
    bookkeeping."""
    parts = []
    for node in nodes:
        if type(node) is not dict or node.get("type") != "text" or node.get("marks"):
            return None
        raw = node.get("text")
        if not isinstance(raw, str):
            return None
        if raw:
            parts.append(escape_markdown(raw) if raw.strip() else raw)
    return "".join(parts)


def _link_href(node: Any) -> str:
    """The href of a text node's link mark ("" when it has none)."""
    if _kind(node) != "text":
        return ""
    marks = node.get("marks")
    for mark in marks if isinstance(marks, list) else []:
        if _kind(mark) == "link":
            return _attr_str(mark, "href")
    return ""


def _is_inline(node: Any) -> bool:
    return _kind(node) in _INLINE_TYPES

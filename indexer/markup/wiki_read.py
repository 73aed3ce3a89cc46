"""Read Jira wiki markup (Server/DC and REST v2 text fields) into Markdown or plain text.

The parser turns wiki markup into an ADF-shaped tree and lets ``adf_read`` render it, so
both formats share one Markdown writer and one plain-text extractor. It is forgiving:
unclosed macros run to the end of the text, and ``*``, ``_``, ``-`` and ``+`` only format
when they sit at word boundaries (``snake_case``, ``file-name``, ``2*3*4`` stay as typed).
"""

from __future__ import annotations

import html
import re
from typing import Any

from indexer.markup.adf_read import adf_to_markdown, adf_to_text

MAX_NESTING = 8  # {quote}/{panel} inside each other
MAX_LIST_DEPTH = 20

_BLOCK_MACRO = re.compile(r"(?<!\{)\{(code|noformat|quote|panel)(?::([^}\n]*))?\}(?!\})")
_HEADING = re.compile(r"^\s*h([1-6])\.\s?(.*)$")
_BQ = re.compile(r"^\s*bq\.\s?(.*)$")
_LIST_ITEM = re.compile(rf"^\s*([*#]{{1,{MAX_LIST_DEPTH}}}|-)\s+(.*)$")
_RULE = re.compile(r"^\s*-{4,}\s*$")
_TABLE_ROW = re.compile(r"^\s*\|")


def wiki_to_markdown(text: Any) -> str:
    """Markdown for Jira wiki markup; never raises."""
    if not isinstance(text, str) or not text.strip():
        return ""
    return adf_to_markdown(wiki_to_adf(text))


def wiki_to_text(text: Any) -> str:
    """Plain words of Jira wiki markup for the full-text index; never raises."""
    if not isinstance(text, str) or not text.strip():
        return ""
    return adf_to_text(wiki_to_adf(text))


def wiki_to_adf(text: str) -> dict:
    """An ADF-shaped tree for wiki markup (for rendering only: not schema-checked)."""
    try:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return {"type": "doc", "version": 1, "content": _parse(text, 0)}
    except Exception:  # noqa: BLE001 - the contract is "never raise"
        return {"type": "doc", "version": 1, "content": [_paragraph_of(text)]}


def _paragraph_of(text: str) -> dict:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


# ---------------------------------------------------------------------------
# Blocks


def _parse(text: str, depth: int) -> list[dict]:
    """Split out the multi-line macros ({code}, {noformat}, {quote}, {panel}), then lines."""
    blocks: list[dict] = []
    pos = 0
    while pos < len(text):
        match = _BLOCK_MACRO.search(text, pos)
        if not match:
            blocks.extend(_parse_lines(text[pos:]))
            break
        blocks.extend(_parse_lines(text[pos : match.start()]))
        name, params = match.group(1), match.group(2) or ""
        close = text.find("{" + name + "}", match.end())
        body_end = close if close >= 0 else len(text)
        body = text[match.end() : body_end]
        pos = body_end + len(name) + 2 if close >= 0 else len(text)
        if name in ("code", "noformat"):
            title = _macro_param(params, "title")
            if title:  # {code:title=Bar.java}: the file name is worth keeping
                blocks.append({"type": "paragraph", "content": [{"type": "text", "text": title}]})
            blocks.append(_code_block(body, params if name == "code" else ""))
        elif depth >= MAX_NESTING:
            blocks.extend(_parse_lines(body))
        elif name == "quote":
            inner = _parse(body, depth + 1)
            if inner:
                blocks.append({"type": "blockquote", "content": inner})
        else:
            inner = _parse(body, depth + 1)
            # Titles may hold markup such as a [~user] mention: keep their words only.
            title = adf_to_text(
                {"type": "paragraph", "content": _inline(_macro_param(params, "title"))}
            )
            if inner or title:
                attrs = {"panelType": "note"}
                if title:
                    attrs["title"] = title
                blocks.append({"type": "panel", "attrs": attrs, "content": inner})
    return blocks


def _macro_param(params: str, key: str) -> str:
    for part in params.split("|"):
        name, _, value = part.partition("=")
        if name.strip().lower() == key:
            return value.strip()
    return ""


def _code_block(body: str, params: str) -> dict:
    body = body.strip("\n")
    language = ""
    for part in params.split("|"):
        part = part.strip()
        if part and "=" not in part:
            language = part
            break
        if part.lower().startswith("language="):
            language = part.split("=", 1)[1].strip()
            break
    node: dict = {"type": "codeBlock", "content": [{"type": "text", "text": body}] if body else []}
    if language.lower() == "none":  # Jira's "no highlighting", not a language name
        language = ""
    if language:
        node["attrs"] = {"language": language.lower()}
    return node


def _parse_lines(chunk: str) -> list[dict]:
    blocks: list[dict] = []
    paragraph: list[str] = []
    lists = _ListBuilder(blocks)
    table: list[list[tuple[bool, str]]] = []

    def flush_paragraph() -> None:
        if paragraph:
            content = _inline_lines(paragraph)
            if content:
                blocks.append({"type": "paragraph", "content": content})
            paragraph.clear()

    def flush_table() -> None:
        if table:
            blocks.append(_table_node(table))
            table.clear()

    for line in chunk.split("\n"):
        if not line.strip():
            flush_paragraph()
            lists.close()
            flush_table()
            continue
        if _TABLE_ROW.match(line):
            flush_paragraph()
            lists.close()
            table.append(_split_row(line.strip()))
            continue
        flush_table()
        heading = _HEADING.match(line)
        item = _LIST_ITEM.match(line)
        if heading or _BQ.match(line) or _RULE.match(line) or item:
            flush_paragraph()
        else:
            lists.close()
            paragraph.append(line)
            continue
        if heading:
            lists.close()
            blocks.append(
                {
                    "type": "heading",
                    "attrs": {"level": int(heading.group(1))},
                    "content": _inline(heading.group(2).strip()),
                }
            )
        elif _RULE.match(line):
            lists.close()
            blocks.append({"type": "rule"})
        elif item:
            lists.add(item.group(1), _inline(item.group(2).strip()))
        else:
            lists.close()
            quoted = _BQ.match(line)
            content = _inline(quoted.group(1).strip()) if quoted else []
            blocks.append(
                {"type": "blockquote", "content": [{"type": "paragraph", "content": content}]}
            )
    flush_paragraph()
    lists.close()
    flush_table()
    return blocks


class _ListBuilder:
    """Builds nested bullet/ordered lists from Jira markers such as ``*``, ``##`` or ``#*``."""

    def __init__(self, blocks: list[dict]):
        self.blocks = blocks
        self.stack: list[tuple[str, dict]] = []  # (marker char, list node) per level

    def add(self, markers: str, content: list[dict]) -> None:
        markers = "*" if markers == "-" else markers
        keep = 0
        while keep < min(len(self.stack), len(markers)) and self.stack[keep][0] == markers[keep]:
            keep += 1
        del self.stack[keep:]
        while len(self.stack) < len(markers):
            char = markers[len(self.stack)]
            node = {"type": "orderedList" if char == "#" else "bulletList", "content": []}
            if self.stack:
                parent = self.stack[-1][1]
                if not parent["content"]:
                    parent["content"].append({"type": "listItem", "content": []})
                parent["content"][-1]["content"].append(node)
            else:
                self.blocks.append(node)
            self.stack.append((char, node))
        paragraph = {"type": "paragraph", "content": content}
        self.stack[-1][1]["content"].append({"type": "listItem", "content": [paragraph]})

    def close(self) -> None:
        self.stack.clear()


def _split_row(line: str) -> list[tuple[bool, str]]:
    """Cells of one table row as (is_header, text); pipes inside [links] or {macros} stay."""
    cells: list[tuple[bool, list[str]]] = []
    depth = 0
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and cells:
            cells[-1][1].append(line[i : i + 2])
            i += 2
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        if char == "|" and depth == 0:
            header = line[i + 1 : i + 2] == "|"
            cells.append((header, []))
            i += 2 if header else 1
            continue
        if cells:
            cells[-1][1].append(char)
        i += 1
    result = [(header, "".join(parts).strip()) for header, parts in cells]
    while result and not result[-1][1]:
        result.pop()  # the closing pipe opens an empty cell
    return result


def _table_node(rows: list[list[tuple[bool, str]]]) -> dict:
    table_rows = []
    for row in rows:
        cells = []
        for header, text in row:
            content = _inline_lines(text.split("\n"))
            cells.append(
                {
                    "type": "tableHeader" if header else "tableCell",
                    "content": [{"type": "paragraph", "content": content}],
                }
            )
        if cells:
            table_rows.append({"type": "tableRow", "content": cells})
    return {"type": "table", "content": table_rows}


# ---------------------------------------------------------------------------
# Inline


def _emphasis(marker: str, name: str) -> str:
    m = re.escape(marker)
    return rf"(?<![\w{m}])(?<!\\){m}(?P<{name}>[^\s{m}](?:[^{m}\n]*?[^\s{m}\\])?){m}(?![\w{m}])"


_INLINE = re.compile(
    "|".join(
        [
            r"(?P<br>\\\\)",
            r"(?P<entity>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,30});)",
            r"\{(?P<bmark>[*_\-+])\}(?P<braced>[^{}\n]+?)\{(?P=bmark)\}",
            r"(?P<esc>\\[^A-Za-z0-9\s])",  # \_ and \- escape too, though "_" is \w
            r"(?P<url>\b(?:https?|ftp)://[^\s\[\]|<>\"{}]+)",
            r"\{\{(?P<mono>(?:\\.|[^\\\n])+?)\}\}",
            r"\{code(?::[^}\n]*)?\}(?P<icode>.*?)\{code\}",
            r"\{noformat\}(?P<inoformat>.*?)\{noformat\}",
            r"(?P<macro>\{(?:color|anchor)(?::[^}\n]*)?\})",
            r"\[(?P<link>[^\[\]\n]+)\]",
            r"!(?P<image>(?:https?://[^\s!|]+|[^\s!|][^!\n|]*?\.[A-Za-z0-9]{2,5})(?:\|[^!\n]*)?)!",
            r"\?\?(?P<cite>[^?\n]+?)\?\?",
            _emphasis("*", "strong"),
            _emphasis("_", "em"),
            _emphasis("-", "strike"),
            _emphasis("+", "underline"),
        ]
    )
)
_URL_TRAILING = ".,;:!?)'"
_BRACED_MARKS = {"*": "strong", "_": "em", "-": "strike", "+": "underline"}
_ESCAPED = re.compile(r"\\([^A-Za-z0-9\s])")


def _inline_lines(lines: list[str]) -> list[dict]:
    """Inline nodes for consecutive lines; Jira shows a newline as a line break."""
    content: list[dict] = []
    for index, line in enumerate(lines):
        if index:
            content.append({"type": "hardBreak"})
        content.extend(_inline(line))
    while content and content[-1]["type"] == "hardBreak":
        content.pop()
    return content


def _inline(text: str, marks: tuple = (), depth: int = 0) -> list[dict]:
    nodes: list[dict] = []
    pos = 0

    def add_text(value: str, extra: tuple = ()) -> None:
        if not value:
            return
        seen: dict[str, dict] = {}
        for mark in marks + extra:
            seen[mark["type"]] = mark  # one mark per kind; the innermost link wins
        node_marks = [dict(m) for m in seen.values()]
        if nodes and nodes[-1].get("type") == "text" and nodes[-1].get("marks", []) == node_marks:
            nodes[-1]["text"] += value
            return
        node: dict = {"type": "text", "text": value}
        if node_marks:
            node["marks"] = node_marks
        nodes.append(node)

    for match in _INLINE.finditer(text):
        if match.start() < pos:
            continue
        add_text(text[pos : match.start()])
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind) if kind else ""
        if kind == "braced":  # {*}bold{*}: emphasis that Jira reads inside a word
            kind = _BRACED_MARKS[match.group("bmark")]
        if kind == "br":
            nodes.append({"type": "hardBreak"})
        elif kind == "entity":
            add_text(html.unescape(value))
        elif kind == "esc":
            add_text(value[1:])
        elif kind == "url":
            trimmed = value.rstrip(_URL_TRAILING)
            add_text(trimmed, ({"type": "link", "attrs": {"href": trimmed}},))
            pos = match.start() + len(trimmed)
        elif kind == "mono":
            add_text(_ESCAPED.sub(r"\1", value), ({"type": "code"},))
        elif kind in ("icode", "inoformat"):
            add_text(value, ({"type": "code"},))
        elif kind == "macro":
            continue
        elif kind == "link":
            nodes.extend(_link(value, marks, depth))
        elif kind == "image":
            target = value.split("|", 1)[0].strip()
            name = target.rsplit("/", 1)[-1] or target
            attrs = {"alt": name}
            if "://" in target:
                attrs["url"] = target
            nodes.append({"type": "mediaInline", "attrs": attrs})
        elif kind in ("strong", "em", "strike", "underline", "cite"):
            mark = {"type": "em" if kind == "cite" else kind}
            if depth >= 6:
                add_text(value, (mark,))
            else:
                nodes.extend(_inline(value, marks + (mark,), depth + 1))
    add_text(text[pos:])
    return nodes


def _link(body: str, marks: tuple, depth: int) -> list[dict]:
    if body.startswith("~"):
        user = body[1:].strip()
        if user.lower().startswith("accountid:"):
            user = user.split(":", 1)[1]
        return [{"type": "mention", "attrs": {"id": user, "text": "@" + user}}]
    text, _, rest = body.partition("|")
    href = rest.split("|", 1)[0].strip() if rest else text.strip()
    label = text.strip() if rest else href
    if href.startswith("^"):  # link to an attachment of the issue
        name = href[1:] or body
        label = text.strip() if rest else ""
        shown = f"{label} ({name})" if label and label != name else name
        return [{"type": "text", "text": shown}]
    if not href or not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#|/|www\.)", href, re.I):
        # Not a link Jira would make ([junit4], [X=1, Y=2]): keep the brackets as text.
        return [
            {"type": "text", "text": "[" + body + "]", **({"marks": list(marks)} if marks else {})}
        ]
    link = {"type": "link", "attrs": {"href": href}}
    inner = _inline(label, marks + (link,), depth + 1) if depth < 6 else []
    return inner or [{"type": "text", "text": href, "marks": [*marks, link]}]

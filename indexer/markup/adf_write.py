"""Markdown -> ADF for posting comments to Jira Cloud (REST v3).

Built on markdown-it-py's token tree (CommonMark + tables + strikethrough). Every document
produced validates against Atlassian's ADF JSON schema: constructs a container may not
hold (a heading in a list item, a table in a quote, ...) are rewritten into ones it may,
text nodes are never empty, and code text carries only code and link marks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

MAX_NESTING = 100
_MD = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable("table").enable("strikethrough")

# What each ADF container may hold (a subset of the schema that we ever produce).
_LIST_ITEM_OK = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
_QUOTE_OK = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
_DOC_OK = frozenset(
    {
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
    }
)
_MARK_ORDER = {"link": 0, "strong": 1, "em": 2, "strike": 3, "code": 4}
# A bare address in the text. Jira Cloud shows ADF text as typed: unlike wiki markup on
# Data Center, a URL without a link mark is not clickable. GitHub's rule for where one
# ends: trailing punctuation is not part of it, nor a `)` that closes no `(` within it.
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE)
# `<br>` is how Markdown breaks a line inside a table cell; other HTML stays text.
BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_URL_TRAIL = ".,:;!?*_~'\""


def markdown_to_adf(md: Any) -> dict:
    """A full ADF document for Markdown text; never raises."""
    if not isinstance(md, str):
        md = "" if md is None else str(md)
    try:
        tokens = _MD.parse(md)
        if too_deep(tokens):
            raise ValueError("nesting too deep")  # markdown-it would drop the deepest text
        content = _fit(_blocks(SyntaxTreeNode(tokens).children), _DOC_OK)
    except Exception:  # noqa: BLE001 - the contract is "never raise"
        content = _plain_paragraphs(md)
    return {"version": 1, "type": "doc", "content": content}


# An issue key in running text (`ABC-12`, not inside `x-ABC-12` or `ABC-12-b`).
_ISSUE_KEY = re.compile(r"(?<![\w-])[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}(?![\w-])")


def link_issue_keys(doc: dict, url_of: Callable[[str], str | None]) -> dict:
    """The document with each issue key in its text linked to `url_of(key)` (keys it
    gives no URL for stay text). Jira Cloud shows ADF text as typed, where the wiki
    renderer of Data Center links a key by itself; code and text already linked are
    left alone."""

    def walk(node: dict) -> dict:
        if node.get("type") == "codeBlock" or not isinstance(node.get("content"), list):
            return node
        content: list[dict] = []
        for child in node["content"]:
            if child.get("type") == "text":
                content.extend(_linked_keys(child, url_of))
            else:
                content.append(walk(child))
        return {**node, "content": content}

    return walk(doc)


def _linked_keys(node: dict, url_of: Callable[[str], str | None]) -> list[dict]:
    if any(m["type"] in ("link", "code") for m in node.get("marks", [])):
        return [node]
    links = []
    for match in _ISSUE_KEY.finditer(node["text"]):
        url = url_of(match.group())
        if url:
            links.append((match.start(), match.end(), url))
    return _with_links(node, links)


def _with_links(node: dict, links: list[tuple[int, int, str]]) -> list[dict]:
    """The text node cut so that each (start, end, href) of `links` (in order, apart)
    is a node of its own with a link mark besides the node's marks."""
    if not links:
        return [node]
    marks, text, pos = node.get("marks", []), node["text"], 0
    out: list[dict] = []
    for start, end, href in links:
        if start > pos:
            out.append({**node, "text": text[pos:start]})
        link = {"type": "link", "attrs": {"href": href}}
        out.append(
            {"type": "text", "text": text[start:end], "marks": _sorted_marks([*marks, link])}
        )
        pos = end
    if pos < len(text):
        out.append({**node, "text": text[pos:]})
    return out


def too_deep(tokens: list) -> bool:
    """True when markdown-it hit its nesting limit (it silently drops what lies deeper)."""
    return any(token.level >= MAX_NESTING - 1 for token in tokens)


def _plain_paragraphs(md: str) -> list[dict]:
    """Fallback: the text as plain paragraphs, one line per hard break."""
    paragraphs = []
    for chunk in md.replace("\r\n", "\n").split("\n\n"):
        content: list[dict] = []
        for line in chunk.split("\n"):
            if not line.strip():
                continue
            if content:
                content.append({"type": "hardBreak"})
            content.append({"type": "text", "text": line})
        if content:
            paragraphs.append({"type": "paragraph", "content": content})
    return paragraphs


def _text_paragraph(text: str) -> dict:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}] if text else []}


# ---------------------------------------------------------------------------
# Blocks


def _blocks(nodes: list[SyntaxTreeNode]) -> list[dict]:
    out: list[dict] = []
    for node in nodes:
        out.extend(_block(node))
    return out


def _block(node: SyntaxTreeNode) -> list[dict]:
    kind = node.type
    if kind == "paragraph":
        return [{"type": "paragraph", "content": _inline_of(node)}]
    if kind == "heading":
        level = int(node.tag[1]) if node.tag[1:].isdigit() else 1
        return [{"type": "heading", "attrs": {"level": level}, "content": _inline_of(node)}]
    if kind in ("bullet_list", "ordered_list"):
        return [_list(node)]
    if kind in ("fence", "code_block"):
        return [_code_block(node.content, node.info if kind == "fence" else "")]
    if kind == "blockquote":
        content = _fit(_blocks(node.children), _QUOTE_OK)
        return [{"type": "blockquote", "content": content or [_text_paragraph("")]}]
    if kind == "hr":
        return [{"type": "rule"}]
    if kind == "table":
        return [_table(node)]
    if kind == "html_block":
        text = node.content.strip("\n")
        return [_text_paragraph(text)] if text.strip() else []
    if kind == "inline":
        return [{"type": "paragraph", "content": _inline(node.children)}]
    return _blocks(node.children)


def _list(node: SyntaxTreeNode) -> dict:
    items = []
    for item in node.children:
        content = _fit(_blocks(item.children), _LIST_ITEM_OK)
        if not content or content[0]["type"] != "paragraph":
            content.insert(0, {"type": "paragraph", "content": []})
        items.append({"type": "listItem", "content": content})
    if not items:
        items.append({"type": "listItem", "content": [{"type": "paragraph", "content": []}]})
    if node.type == "bullet_list":
        return {"type": "bulletList", "content": items}
    result: dict = {"type": "orderedList", "content": items}
    start = node.attrs.get("start")
    if isinstance(start, int) and start != 1 and start >= 0:
        result["attrs"] = {"order": start}
    return result


def _code_block(text: str, info: str) -> dict:
    text = text.removesuffix("\n")
    node: dict = {"type": "codeBlock", "content": [{"type": "text", "text": text}] if text else []}
    language = info.strip().split()[0] if info.strip() else ""
    if language:
        node["attrs"] = {"language": language}
    return node


def _table(node: SyntaxTreeNode) -> dict:
    rows = []
    for section in node.children:  # thead / tbody
        for row in section.children:
            cells = []
            for cell in row.children:
                kind = "tableHeader" if cell.type == "th" else "tableCell"
                paragraph = {"type": "paragraph", "content": _inline_of(cell)}
                cells.append({"type": kind, "content": [paragraph]})
            if cells:
                rows.append({"type": "tableRow", "content": cells})
    return {"type": "table", "content": rows}


def _fit(blocks: list[dict], allowed: frozenset[str]) -> list[dict]:
    """Rewrite blocks a container may not hold into ones it may (never dropping text)."""
    out: list[dict] = []
    for block in blocks:
        kind = block["type"]
        if kind in allowed:
            out.append(block)
        elif kind == "heading":
            out.append({"type": "paragraph", "content": _with_mark(block["content"], "strong")})
        elif kind == "blockquote":
            out.extend(_fit(block["content"], allowed))
        elif kind == "table":
            for row in block["content"]:
                line: list[dict] = []
                for cell in row["content"]:
                    for paragraph in cell["content"]:
                        if line and paragraph.get("content"):
                            line.append({"type": "text", "text": " | "})
                        line.extend(paragraph.get("content", []))
                out.append({"type": "paragraph", "content": line})
        elif kind == "rule":
            out.append(_text_paragraph("---"))
        else:
            out.append(_text_paragraph(_plain(block)))
    return [b for b in out if b["type"] != "paragraph" or b.get("content") or allowed is _DOC_OK]


def _with_mark(nodes: list[dict], mark: str) -> list[dict]:
    result = []
    for node in nodes:
        marks = node.get("marks", [])
        if node["type"] == "text" and not any(m["type"] in (mark, "code") for m in marks):
            node = {**node, "marks": _sorted_marks([*marks, {"type": mark}])}
        result.append(node)
    return result


def _plain(block: Any) -> str:
    if isinstance(block, dict):
        if block.get("type") == "text":
            return block.get("text", "")
        return " ".join(_plain(c) for c in block.get("content", []))
    return ""


# ---------------------------------------------------------------------------
# Inline


def _inline_of(node: SyntaxTreeNode) -> list[dict]:
    content: list[dict] = []
    for child in node.children:
        if child.type == "inline":
            content.extend(_inline(child.children))
    while content and content[-1]["type"] == "hardBreak":
        content.pop()  # a `<br>` closing a cell breaks before nothing
    return content


def _inline(nodes: list[SyntaxTreeNode], marks: tuple = ()) -> list[dict]:
    out: list[dict] = []
    for node in nodes:
        kind = node.type
        if kind == "html_inline" and BR_TAG.fullmatch(node.content):
            out.append({"type": "hardBreak"})  # GFM's line break in a table cell
        elif kind in ("text", "html_inline"):
            _add_text(out, node.content, marks)
        elif kind == "softbreak":
            _add_text(out, " ", marks)
        elif kind == "hardbreak":
            out.append({"type": "hardBreak"})
        elif kind == "code_inline":
            _add_text(out, node.content, marks, code=True)
        elif kind == "strong":
            out.extend(_inline(node.children, (*marks, {"type": "strong"})))
        elif kind == "em":
            out.extend(_inline(node.children, (*marks, {"type": "em"})))
        elif kind == "s":
            out.extend(_inline(node.children, (*marks, {"type": "strike"})))
        elif kind == "link":
            href = str(node.attrs.get("href", "")).strip()
            link = {"type": "link", "attrs": {"href": href}}
            inner = _inline(node.children, (*marks, link) if href else marks)
            if not inner and href:
                _add_text(inner, href, (*marks, link))  # [](url): the address is the text
            out.extend(inner)
        elif kind == "image":
            src = str(node.attrs.get("src", ""))
            alt = "".join(c.content for c in node.children if c.type == "text") or src
            link = {"type": "link", "attrs": {"href": src}}
            _add_text(out, alt or "image", (*marks, link) if src else marks)
        else:
            _add_text(out, node.content, marks)
            out.extend(_inline(node.children, marks))
    return _merge(_autolink(out))


def _add_text(out: list[dict], text: str, marks: tuple, code: bool = False) -> None:
    if not text:
        return  # ADF text nodes must not be empty
    by_type: dict[str, dict] = {}
    for mark in marks:
        by_type[mark["type"]] = mark  # nested same-kind marks collapse; innermost link wins
    if code:
        # The schema lets code combine with link only.
        kept = [{"type": "code"}] + ([by_type["link"]] if "link" in by_type else [])
    else:
        kept = list(by_type.values())
    node: dict = {"type": "text", "text": text}
    if kept:
        node["marks"] = _sorted_marks(kept)
    out.append(node)


def _autolink(nodes: list[dict]) -> list[dict]:
    """Bare URLs in text without a link or code mark get a link mark of their own."""
    out: list[dict] = []
    for node in nodes:
        marks = node.get("marks", [])
        if node["type"] != "text" or any(m["type"] in ("link", "code") for m in marks):
            out.append(node)
            continue
        links = []
        for match in _BARE_URL.finditer(node["text"]):
            url = _trim_url(match.group(0))
            if "://" in url and not url.endswith("://"):
                links.append((match.start(), match.start() + len(url), url))
        out.extend(_with_links(node, links))
    return out


def _trim_url(url: str) -> str:
    while url and (url[-1] in _URL_TRAIL or (url[-1] == ")" and url.count(")") > url.count("("))):
        url = url[:-1]
    return url


def _sorted_marks(marks: list[dict]) -> list[dict]:
    return sorted(marks, key=lambda m: _MARK_ORDER.get(m["type"], 9))


def _merge(nodes: list[dict]) -> list[dict]:
    """Join neighbouring text nodes that carry the same marks."""
    merged: list[dict] = []
    for node in nodes:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and node["type"] == "text"
            and previous["type"] == "text"
            and previous.get("marks") == node.get("marks")
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(node)
    return merged

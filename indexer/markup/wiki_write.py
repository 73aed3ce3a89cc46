"""Markdown -> Jira wiki markup for posting comments to Jira Server/DC (REST v2).

Walks markdown-it-py's token tree like ``adf_write`` does. Characters in plain text that
Jira would read as markup are escaped with a backslash, but only where they could
actually start or end formatting, so ordinary words (``snake_case``, ``a-b``) stay clean.
Bare URLs are left alone (Jira links them as typed), emoticons such as ``(x)`` are
escaped, and a backslash that Jira would read as an escape or a line break is written
as the entity ``&#92;``: wiki markup has no other way to show one.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from indexer.markup.adf_write import BR_TAG, MAX_NESTING, too_deep

_MD = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable("table").enable("strikethrough")

# Always special in Jira text: macros, links, tables and images.
_ALWAYS = re.compile(r"([{}\[\]|!])")
# A backslash before markup, another backslash or the end would escape or break a line.
_BACKSLASH = re.compile(r"\\(?=[^A-Za-z0-9\s]|$)")
# Jira's emoticons, which turn "(x)" or ":)" into icons; (+) (-) (?) (*) (!) are
# escaped anyway by the patterns above.
_EMOTICON = re.compile(
    r"(\((?:y|n|i|/|x|on|off|flag|flagoff|\*[rgby]?)\))|((?<![\w:;])[:;](?:\)|\(|P|p|D)(?!\w))"
)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s\[\]|<>\"{}]+")
# Special only at a word boundary: emphasis markers and the rest.
_BOUNDARY = re.compile(r"(?<![\w])([*_+\-^~?])|([*_+\-^~?])(?![\w])")
_CODE_TAG = re.compile(r"\{code(?=[:}])", re.IGNORECASE)
_NOFORMAT_TAG = re.compile(r"\{noformat(?=[:}])", re.IGNORECASE)
_LINE_START = re.compile(r"^(\s*)(h[1-6]\.|bq\.|#)")
# The only languages Jira Server / Data Center's {code} macro knows; any other name
# renders the comment with "Unable to find source-code formatter for language: ..."
# in red above the code. Markdown's usual names map onto these; the rest get `none`
# (no highlighting, no error).
CODE_LANGUAGES = frozenset(
    [
        "actionscript",
        "ada",
        "applescript",
        "bash",
        "c",
        "c#",
        "c++",
        "cpp",
        "css",
        "erlang",
        "go",
        "groovy",
        "haskell",
        "html",
        "java",
        "javascript",
        "js",
        "json",
        "lua",
        "none",
        "nyan",
        "objc",
        "perl",
        "php",
        "python",
        "r",
        "rainbow",
        "ruby",
        "scala",
        "sh",
        "sql",
        "swift",
        "visualbasic",
        "xml",
        "yaml",
    ]
)
_LANGUAGE_ALIASES = {
    "py": "python",
    "py3": "python",
    "python3": "python",
    "jsx": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "node": "javascript",
    "ts": "javascript",
    "tsx": "javascript",
    "typescript": "javascript",
    "shell": "bash",
    "zsh": "bash",
    "console": "bash",
    "shell-session": "bash",
    "shellsession": "bash",
    "yml": "yaml",
    "cs": "c#",
    "csharp": "c#",
    "cxx": "cpp",
    "cc": "cpp",
    "hpp": "cpp",
    "h": "c",
    "objective-c": "objc",
    "objectivec": "objc",
    "rb": "ruby",
    "golang": "go",
    "hs": "haskell",
    "erl": "erlang",
    "pl": "perl",
    "vb": "visualbasic",
    "vbnet": "visualbasic",
    "xhtml": "html",
    "svg": "xml",
    "json5": "json",
    "jsonc": "json",
    "postgres": "sql",
    "postgresql": "sql",
    "pgsql": "sql",
    "mysql": "sql",
    "sqlite": "sql",
    "plsql": "sql",
}


def jira_code_language(info: str) -> str:
    """The {code} language for a fence's info string ("" when it names none)."""
    words = info.strip().split()
    if not words:
        return ""
    name = words[0].lower().strip("{}.")
    name = _LANGUAGE_ALIASES.get(name, name)
    return name if name in CODE_LANGUAGES else "none"


def markdown_to_wiki(md: Any) -> str:
    """Jira wiki markup for Markdown text; never raises."""
    if not isinstance(md, str):
        md = "" if md is None else str(md)
    # The writer's own markers: never in the text (Jira could not show them anyway).
    md = md.replace(_OPEN, "").replace(_CLOSE, "")
    try:
        tokens = _MD.parse(md)
        if too_deep(tokens):
            raise ValueError("nesting too deep")  # markdown-it would drop the deepest text
        out = _WikiWriter().blocks(SyntaxTreeNode(tokens).children).strip("\n")
        if _OPEN in out or _CLOSE in out:  # a marker some path left unsettled
            out = _settle_marks(out).replace(_OPEN, "").replace(_CLOSE, "")
        return out
    except Exception:  # noqa: BLE001 - the contract is "never raise"
        return escape_wiki(md)


def escape_wiki(text: str) -> str:
    parts, pos = [], 0
    for url in _URL.finditer(text):
        parts.append(_escape_words(text[pos : url.start()]) + url.group(0))
        pos = url.end()
    parts.append(_escape_words(text[pos:]))
    text = "".join(parts)
    return "\n".join(_escape_line_start(line) for line in text.split("\n"))


def _escape_words(text: str) -> str:
    text = _BACKSLASH.sub("&#92;", text)
    text = _ALWAYS.sub(r"\\\1", text)
    text = _BOUNDARY.sub(lambda m: "\\" + (m.group(1) or m.group(2)), text)
    return _EMOTICON.sub(lambda m: "\\" + m.group(0), text)


def _escape_line_start(line: str) -> str:
    match = _LINE_START.match(line)
    if not match:
        return line
    return match.group(1) + "\\" + match.group(2) + line[match.end() :]


class _WikiWriter:
    def __init__(self) -> None:
        self.in_quote = False  # Jira's {quote} does not nest: inner quotes are flattened

    def blocks(self, nodes: list[SyntaxTreeNode], prefix: str = "") -> str:
        parts = [self.block(node, prefix) for node in nodes]
        return "\n\n".join(p for p in parts if p.strip())

    def block(self, node: SyntaxTreeNode, prefix: str = "") -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline_of(node)
        if kind == "heading":
            level = node.tag[1:] if node.tag[1:].isdigit() else "1"
            return f"h{level}. " + self.inline_of(node, single_line=True)
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node, prefix)
        if kind in ("fence", "code_block"):
            language = jira_code_language(node.info) if kind == "fence" else ""
            head = "{code:" + language + "}" if language else "{code}"
            body = node.content.removesuffix("\n")
            # Neither macro has an escape: its body ends at the first closing tag.
            # Code that holds `{code` goes verbatim in {noformat} (no highlighting);
            # only code holding both tags has them broken up, the least change.
            if not _CODE_TAG.search(body):
                return f"{head}\n{body}\n{{code}}"
            if not _NOFORMAT_TAG.search(body):
                return f"{{noformat}}\n{body}\n{{noformat}}"
            body = _CODE_TAG.sub(lambda m: "{ " + m.group(0)[1:], body)
            return f"{head}\n{body}\n{{code}}"
        if kind == "blockquote":
            if self.in_quote:
                return self.blocks(node.children)
            self.in_quote = True
            try:
                return "{quote}\n" + self.blocks(node.children) + "\n{quote}"
            finally:
                self.in_quote = False
        if kind == "hr":
            return "----"
        if kind == "table":
            return self.table(node)
        if kind == "html_block":
            return escape_wiki(node.content.strip("\n"))
        return self.blocks(node.children, prefix)

    def list(self, node: SyntaxTreeNode, prefix: str) -> str:
        marker = prefix + ("#" if node.type == "ordered_list" else "*")
        lines = []
        for item in node.children:
            texts: list[str] = []
            nested: list[str] = []
            for child in item.children:
                if child.type in ("bullet_list", "ordered_list"):
                    nested.append(self.list(child, marker))
                elif child.type == "heading":  # no headings in a list item: bold
                    texts.append(_settle_marks(_wrap("*", self.inline_of(child, single_line=True))))
                elif child.type in ("fence", "code_block", "table", "blockquote"):
                    nested.append(self.block(child))
                else:
                    texts.append(self.block(child, marker).replace("\n", " \\\\ "))
            lines.append(f"{marker} " + " \\\\ ".join(t for t in texts if t))
            lines.extend(nested)
        return "\n".join(lines)

    def table(self, node: SyntaxTreeNode) -> str:
        lines = []
        for section in node.children:
            for row in section.children:
                cells = []
                header = False
                for cell in row.children:
                    header = cell.type == "th"
                    text = self.inline_of(cell, single_line=True) or " "
                    cells.append(text)
                sep = "||" if header else "|"
                lines.append(sep + sep.join(cells) + sep)
        return "\n".join(lines)

    def inline_of(self, node: SyntaxTreeNode, single_line: bool = False) -> str:
        text = "".join(self.inline(c.children) for c in node.children if c.type == "inline")
        text = _settle_marks(text).rstrip("\n")  # a `<br>` closing a cell breaks before nothing
        return text.replace("\n", " \\\\ ") if single_line else text

    def inline(self, nodes: list[SyntaxTreeNode]) -> str:
        out = []
        for node in nodes:
            kind = node.type
            if kind == "html_inline" and BR_TAG.fullmatch(node.content):
                out.append("\n")  # as a hard break: ` \\ ` where a line must stay one
            elif kind in ("text", "html_inline"):
                out.append(escape_wiki(node.content))
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "hardbreak":
                out.append("\n")
            elif kind == "code_inline":
                out.append(_monospace(node.content))
            elif kind == "strong":
                out.append(_wrap("*", self.inline(node.children)))
            elif kind == "em":
                out.append(_wrap("_", self.inline(node.children)))
            elif kind == "s":
                out.append(_wrap("-", self.inline(node.children)))
            elif kind == "link":
                href = str(node.attrs.get("href", "")).replace("|", "%7C").replace("]", "%5D")
                label = self.inline(node.children)
                if not href:
                    out.append(label)  # [text]() links nowhere: keep the words
                else:
                    out.append(f"[{label}|{href}]" if label and label != href else f"[{href}]")
            elif kind == "image":
                src = str(node.attrs.get("src", "")).replace("!", "%21").replace("|", "%7C")
                alt = " ".join(re.sub(r"[|!,=\[\]{}]", " ", node.content or "").split())
                if src:
                    out.append(f"!{src}|alt={alt}!" if alt else f"!{src}!")
            else:
                out.append(
                    self.inline(node.children) if node.children else escape_wiki(node.content)
                )
        return "".join(out)


# Emphasis markers are written between these, then settled once the line is known.
_OPEN, _CLOSE = "\x00", "\x01"
_PENDING = re.compile(r"\x00(?P<open>[*_\-+])|(?P<close>[*_\-+])\x01")


def _wrap(marker: str, text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{_OPEN}{marker}{core}{marker}{_CLOSE}{trail}"


def _settle_marks(text: str) -> str:
    """Jira reads `*bold*` only at word boundaries: when either end of a pair touches
    a letter (`**a**b`, `a**b**`) both markers take the braced form `{*}`, which Jira
    reads inside words too."""
    if _OPEN not in text:
        return text
    found = list(_PENDING.finditer(text))
    braced: set[int] = set()
    opened: list[int] = []
    for index, match in enumerate(found):
        if match.group("open"):
            opened.append(index)
            continue
        start = found[opened.pop()] if opened else None
        before = text[: start.start()].rstrip(_OPEN + _CLOSE) if start else ""
        after = text[match.end() :].lstrip(_OPEN + _CLOSE)
        if (before and before[-1].isalnum()) or (after and after[0].isalnum()):
            braced.update({index, found.index(start)} if start else {index})
    out, pos = [], 0
    for index, match in enumerate(found):
        marker = match.group("open") or match.group("close")
        out.append(text[pos : match.start()])
        out.append("{" + marker + "}" if index in braced else marker)
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _monospace(text: str) -> str:
    text = text.replace("\n", " ").strip() or " "
    # A backslash before `}` (the closing `}}` too) or another mark would escape it:
    # written as the entity, as in plain text.
    text = _BACKSLASH.sub("&#92;", text)
    return "{{" + re.sub(r"([{}])", r"\\\1", text) + "}}"

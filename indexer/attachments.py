"""Searchable text from attachment bytes: plain text, logs, Markdown, CSV, JSON, XML,
HTML and PDF. Anything else (images, archives, office binaries) is skipped.

Decides from the file name and the declared MIME type before downloading
(`is_indexable`), then extracts text from the bytes (`extract_text`).
"""

from __future__ import annotations

import io
import json
import logging
from html.parser import HTMLParser
from pathlib import PurePosixPath

from indexer.normalize import storable

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {
    ".txt", ".log", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".xml", ".html",
    ".htm", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".py", ".java",
    ".js", ".ts", ".go", ".rs", ".c", ".h", ".cpp", ".sql", ".sh", ".patch", ".diff", ".out",
    ".err", ".trace", ".stacktrace",
}  # fmt: skip
TEXT_MIMETYPES = {
    "application/json", "application/xml", "application/x-yaml", "application/yaml",
    "application/javascript", "application/x-sh", "application/sql", "application/csv",
}  # fmt: skip
PDF_MIMETYPE = "application/pdf"
MAX_PDF_PAGES = 200


def is_indexable(filename: str, mimetype: str) -> bool:
    """True when the attachment is worth downloading for its text."""
    kind = kind_of(filename, mimetype)
    return kind is not None


def kind_of(filename: str, mimetype: str) -> str | None:
    suffix = PurePosixPath(filename or "").suffix.lower()
    mimetype = (mimetype or "").split(";")[0].strip().lower()
    if suffix == ".pdf" or mimetype == PDF_MIMETYPE:
        return "pdf"
    if suffix in {".html", ".htm"} or mimetype == "text/html":
        return "html"
    if suffix in TEXT_SUFFIXES or mimetype.startswith("text/") or mimetype in TEXT_MIMETYPES:
        return "text"
    return None


def extract_text(filename: str, mimetype: str, data: bytes) -> str | None:
    """The attachment's text, or None when it is not text after all.

    Never raises: one attachment's bytes, whatever they are, must not fail the sync
    of its datasource (it would fail again at every run that fetches the issue)."""
    try:
        text = _extract(filename, mimetype, data)
    except Exception as exc:
        log.info("attachment text extraction failed: %s", type(exc).__name__)
        return None
    return storable(text) if text is not None else None


def _extract(filename: str, mimetype: str, data: bytes) -> str | None:
    kind = kind_of(filename, mimetype)
    if kind is None or not data:
        return None
    if kind == "pdf":
        return _pdf_text(data)
    text = _decode(data)
    if text is None:
        return None
    if kind == "html":
        return _html_text(text)
    if PurePosixPath(filename or "").suffix.lower() == ".json":
        return _json_text(text)
    return text


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:4096]:
        return None  # a binary that lied about its type
    for encoding in (
        ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",)
    ):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _json_text(text: str) -> str:
    """Keep JSON readable for search: keys and string values, not punctuation."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than it parses
        return text
    parts: list[str] = []
    # Depth first, in document order, without recursion (however deep the nesting).
    stack: list[object] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in reversed(node.items()):
                stack.append(item)
                stack.append(_Key(key))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, _Key):
            parts.append(str(node.name))
        elif node is not None:
            parts.append(str(node))
    return " ".join(parts)


class _Key:
    """A JSON object key on _json_text's stack (told apart from a string value)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _TextOfHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def _html_text(text: str) -> str:
    parser = _TextOfHTML()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # malformed HTML: fall back to the raw text
        return text
    return "\n".join(parser.parts)


def _pdf_text(data: bytes) -> str | None:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
    except Exception as exc:  # pypdf raises many kinds on broken files
        log.info("pdf text extraction failed: %s", type(exc).__name__)
        return None
    text = "\n".join(pages).strip()
    return text or None

"""Attachment downloads: which types are worth fetching for their text, size caps
checked before and while reading, redirects that keep the token on its own site.

`AttachmentDownloads` is a part of `JiraClient`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from indexer import secrets

from .errors import JiraResponseError

log = logging.getLogger("jiradex.jira")

MAX_REDIRECTS = 5
DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024

BINARY_PREFIXES = ("image/", "video/", "audio/", "font/")
BINARY_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/java-archive",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sharedlib",
        "application/vnd.ms-cab-compressed",
        "application/x-iso9660-image",
        "application/wasm",
    }
)


# What servers say when they do not know or will not say: Jira serves an attachment
# with the type stored at upload, and browsers often upload a .log or .txt file so.
OPAQUE_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/force-download",
        "application/x-download",
        "application/download",
        "application/unknown",
        "application/x-unknown",
    }
)


def is_binary_type(content_type: str | None, *, named_text: bool = False) -> bool:
    """True for media, archives and opaque bytes: not worth downloading for text.

    `named_text`: the file's name says text, and an opaque type is no proof
    otherwise (the text extractor still refuses bytes that are not text)."""
    base = (content_type or "").split(";")[0].strip().lower()
    if named_text and base in OPAQUE_TYPES:
        return False
    return bool(base) and (base.startswith(BINARY_PREFIXES) or base in BINARY_TYPES)


@dataclass
class AttachmentDownload:
    """The bytes of an attachment, or why they were skipped."""

    url: str
    content: bytes | None = None
    content_type: str = ""
    size: int = 0
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.content is not None


class AttachmentDownloads:
    """`JiraClient`'s attachment downloads."""

    def download_attachment(
        self,
        url: str,
        max_bytes: int | None = None,
        *,
        mime_type: str | None = None,
        size: int | None = None,
        named_text: bool = False,
    ) -> bytes | None:
        """The attachment's bytes, or None when skipped (binary type, over `max_bytes`).

        `fetch_attachment` gives the same with the reason for a skip.
        """
        result = self.fetch_attachment(
            url, max_bytes, mime_type=mime_type, size=size, named_text=named_text
        )
        if result.skipped:
            log.info("jira: attachment %s skipped: %s", secrets.redact(url), result.skipped)
        return result.content

    def fetch_attachment(
        self,
        url: str,
        max_bytes: int | None = None,
        *,
        mime_type: str | None = None,
        size: int | None = None,
        named_text: bool = False,
    ) -> AttachmentDownload:
        """Stream an attachment; skip binaries and oversize files with a reason.

        `named_text`: the file's name says text (`server.log`), so an opaque type
        such as application/octet-stream does not make it a binary.
        Redirects are followed by hand: Authorization goes only to the API origin,
        so a redirect to a CDN or another host gets no credentials. Any type is
        accepted (an Accept of JSON alone can earn a 406 on a download).
        """
        limit = self.attachment_max_bytes if max_bytes is None else max_bytes
        result = AttachmentDownload(url=url, content_type=mime_type or "")
        if mime_type and is_binary_type(mime_type, named_text=named_text):
            result.skipped = f"binary type {mime_type}"
            return result
        if size is not None and size > limit:
            result.skipped = f"larger than {limit} bytes ({size})"
            return result
        current = self._url(url)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send("GET", current, ok_redirect=True, accept="*/*")
            if 300 <= response.status_code < 400:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise JiraResponseError("Jira redirected an attachment without a Location")
                current = urljoin(current, location)
                continue
            try:
                return self._read_attachment(response, result, limit, named_text)
            finally:
                response.close()
        raise JiraResponseError(f"Too many redirects while downloading {secrets.redact(url)}")

    def _read_attachment(
        self, response: httpx.Response, result: AttachmentDownload, limit: int, named_text: bool
    ) -> AttachmentDownload:
        expected = result.content_type.split(";")[0].strip().lower()
        content_type = response.headers.get("Content-Type", "") or result.content_type
        result.content_type = content_type.split(";")[0].strip()
        if is_binary_type(content_type, named_text=named_text):
            result.skipped = f"binary type {result.content_type}"
            return result
        if result.content_type.lower() == "text/html" and expected and expected != "text/html":
            # A page where a file was expected: a login page, most likely, from a host
            # that got no credentials (Jira's base URL differs from the site's).
            result.skipped = f"an HTML page instead of the {expected} file (a login page?)"
            return result
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            result.size = int(declared)
            result.skipped = f"larger than {limit} bytes ({declared})"
            return result
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    result.size = total
                    result.skipped = f"larger than {limit} bytes"
                    return result
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise self._network_error(exc, str(response.url)) from exc
        self.stats.add("bytes", total)
        result.content = b"".join(chunks)
        result.size = total
        return result

"""Attachment text extraction: which files are read, and what text comes out."""

from __future__ import annotations

import json

import pytest

from indexer.attachments import extract_text, is_indexable


@pytest.mark.parametrize(
    ("filename", "mimetype", "expected"),
    [
        ("server.log", "text/plain", True),
        ("notes.md", "", True),
        ("data.csv", "text/csv", True),
        ("payload.json", "application/json", True),
        ("page.html", "text/html", True),
        ("spec.pdf", "application/pdf", True),
        ("config.xml", "application/xml", True),
        ("screenshot.png", "image/png", False),
        ("bundle.zip", "application/zip", False),
        ("blob", "application/octet-stream", False),
    ],
)
def test_what_is_indexable(filename, mimetype, expected):
    assert is_indexable(filename, mimetype) is expected


def test_plain_text_and_bom():
    assert (
        extract_text("a.log", "text/plain", "\ufeffERROR pool exhausted".encode())
        == "ERROR pool exhausted"
    )


def test_binary_lying_about_its_type_is_skipped():
    assert extract_text("a.txt", "text/plain", b"\x89PNG\r\n\x1a\n\x00\x00\x00") is None


def test_json_keeps_keys_and_values_not_punctuation():
    text = extract_text(
        "a.json",
        "application/json",
        json.dumps({"error": {"code": "E_TIMEOUT", "retries": 3}}).encode(),
    )
    assert text == "error code E_TIMEOUT retries 3"


def test_html_drops_tags_and_scripts():
    html = b"<html><head><script>var secret=1</script><style>p{}</style></head><body><p>Deadlock in <b>scheduler</b></p></body></html>"
    text = extract_text("r.html", "text/html", html)
    assert "Deadlock in" in text and "scheduler" in text
    assert "secret" not in text and "<" not in text


def _tiny_pdf(words: str) -> bytes:
    """A minimal one-page PDF with one line of text (built by hand, no writer library)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({words}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def test_pdf_text_is_extracted():
    text = extract_text("design.pdf", "application/pdf", _tiny_pdf("Replication lag budget"))
    assert text is not None and "Replication lag budget" in text


def test_broken_pdf_gives_none_not_an_exception():
    assert extract_text("broken.pdf", "application/pdf", b"%PDF-1.4 garbage") is None


def test_json_nested_deeper_than_it_parses_is_kept_as_text_not_an_exception():
    deep = b"[" * 100_000 + b'"needle"' + b"]" * 100_000
    text = extract_text("deep.json", "application/json", deep)
    assert text is not None and "needle" in text


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("half-emoji.json", b'{"message": "cut \\ud83d here"}'),
        ("lone-low.json", b'["\\udc00 tail"]'),
    ],
)
def test_lone_surrogates_from_json_escapes_come_out_storable(filename, data):
    """Python's JSON decoder turns the escape of half a surrogate pair into a lone
    surrogate, which SQLite cannot store (UTF-8 has no form for it)."""
    text = extract_text(filename, "application/json", data)
    assert text is not None
    text.encode("utf-8")  # no UnicodeEncodeError
    assert "here" in text or "tail" in text


def test_an_extractor_that_fails_unexpectedly_gives_none(monkeypatch):
    from indexer import attachments

    def broken(text):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(attachments, "_html_text", broken)
    assert extract_text("page.html", "text/html", b"<p>hello</p>") is None

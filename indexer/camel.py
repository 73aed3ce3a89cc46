"""Code identifiers split where their case changes: `getTimeout` -> `get Timeout`.

unicode61 keeps `getTimeout`, `HttpClient` and `XMLParser` one token each, so a
search for `timeout` would pass over them. The store indexes the parts (in each
field's `_parts` column) and search highlights a part inside its identifier; both
split at the same places, defined here once:

- a lower-case letter then an upper-case one (`get|Timeout`, `Http|Client`);
- an acronym then a word of two or more lower-case letters (`XML|Parser`; not
  `API|s`, whose `s` is a plural);
- a digit then a capitalised word (`base64|Encode`; not `2|FA`);
- a letter then a version number (`v|1.2.3`, `Python|3.12`; not `utf8`), so that
  `1.2.3` finds `v1.2.3`.

ASCII only: identifiers are, and English prose has few words of mixed case.
"""

from __future__ import annotations

import re

# Each alternative starts at the upper-case letter (rare in prose), so most of a
# text is passed over at the speed of a character test.
_BOUNDARY = re.compile(
    r"(?=[A-Z])(?:(?<=[a-z])|(?<=[0-9])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z]{2}))"
    r"|(?<=[A-Za-z])(?=[0-9]+\.[0-9])"
)
# The character after a boundary (an upper-case letter, or a version's first digit).
# One character class first, then which rule holds (an alternation of two classes
# ran twice as slow over prose).
_AFTER_BOUNDARY = re.compile(
    r"[A-Z0-9](?:(?<=[a-z][A-Z])|(?<=[0-9][A-Z])(?=[a-z])|(?<=[A-Z][A-Z])(?=[a-z]{2})"
    r"|(?<=[A-Za-z][0-9])(?=[0-9]*\.[0-9]))"
)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
# The rest of a token from a boundary on: a version keeps its dotted parts.
_TOKEN_REST = re.compile(r"[A-Za-z0-9]*(?:\.[0-9]+)*")


def has_identifiers(text: str) -> bool:
    return bool(text) and _AFTER_BOUNDARY.search(text) is not None


def camel_terms(text: str) -> str:
    """The parts of every mixed-case identifier (and letter-glued version) in
    `text`, space-separated, for a `_parts` column ("" when there is none)."""
    if not text:
        return ""
    out: list[str] = []
    end = 0
    for match in _AFTER_BOUNDARY.finditer(text):
        at = match.start()
        if at < end:
            continue  # another boundary of the identifier just split
        start = at
        while start > 0 and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        end = _TOKEN_REST.match(text, at).end()
        start, end = _dotted(text, start, end)
        out.append(_BOUNDARY.sub(" ", text[start:end]))
    return " ".join(out)


# The characters of a name beside an identifier in a dotted name (`flush_buffer`).
_NAME_CHARS = _TOKEN_CHARS | {"_"}


def _dotted(text: str, start: int, end: int) -> tuple[int, int]:
    """The identifier at text[start:end] widened to the dotted name it is part of
    (`client.NetworkClient.poll`), so that its parts run on into the names beside
    it: `Client.poll` finds "NetworkClient.poll()", as `client.poll` finds
    "client.poll()". A dot followed by a space (the end of a sentence) stops it."""
    while start > 1 and text[start - 1] == "." and text[start - 2] in _NAME_CHARS:
        start -= 1
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
    size = len(text)
    while end + 1 < size and text[end] == "." and text[end + 1] in _NAME_CHARS:
        end += 1
        while end < size and text[end] in _NAME_CHARS:
            end += 1
    return start, end


def camel_split(text: str) -> tuple[str, list[int]]:
    """`text` with a space at each boundary, and for each of its characters the
    index of the character of `text` it is (an added space: the one after it), so
    a match in the split text maps back onto the original."""
    cuts = [m.start() for m in _AFTER_BOUNDARY.finditer(text)]
    if not cuts:
        return text, list(range(len(text)))
    pieces: list[str] = []
    where: list[int] = []
    last = 0
    for cut in cuts:
        pieces.append(text[last:cut])
        where.extend(range(last, cut))
        pieces.append(" ")
        where.append(cut)
        last = cut
    pieces.append(text[last:])
    where.extend(range(last, len(text)))
    return "".join(pieces), where

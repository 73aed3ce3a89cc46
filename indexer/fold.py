"""Text folded for matching: lower case without diacritics ("José" -> "jose").

One character for one, so positions in the folded text are positions in the
original (search highlights rely on it), like FTS5's unicode61 tokenizer with
remove_diacritics, near enough. Names are compared with `fold_name`, which needs
no positions and so also folds decomposed accents (e + U+0301); the store
registers it as the SQL function `jx_fold` (assignee:jose finds José).
"""

from __future__ import annotations

import unicodedata


class _FoldTable(dict):
    """str.translate table, filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[:1] or char
        low = base.lower()[:1] or base
        folded = low if not unicodedata.combining(low) else char
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str | None) -> str:
    if text is None:
        return ""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def fold_name(text: str | None) -> str:
    """`fold` for comparing whole values: composed first, and any combining mark
    left (one without a composed form) dropped, so "Jose\u0301" folds as "jose"."""
    if text is None:
        return ""
    if text.isascii():
        return text.lower()
    folded = fold(unicodedata.normalize("NFC", text))
    return "".join(c for c in folded if not unicodedata.combining(c))

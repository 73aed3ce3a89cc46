"""Text folded for matching: lower case without diacritics ("José" -> "jose").

One character for one, so positions in the folded text are positions in the
original (search highlights rely on it), like FTS5's unicode61 tokenizer with
remove_diacritics, near enough. Names are compared with `fold_name`, which needs
no positions and so also folds decomposed accents (e + U+0301); the store
registers it as the SQL function `jx_fold` (assignee:jose finds José).
"""

from __future__ import annotations

import unicodedata

# Letters with no decomposition, that a keyboard without them replaces by a plain
# one (Søren typed `Soren`, Łódź `Lodz`, kırmızı `kirmizi`), and the final sigma,
# which unicode61 folds to σ as it does ΣΟΦΟΣ. (unicode61 keeps all but ς: the index
# holds these words' folded spellings too, indexer.spelling.)
_PLAIN = {"ø": "o", "ł": "l", "đ": "d", "ı": "i", "ħ": "h", "ŧ": "t", "ς": "σ"}

# Kana voicing marks (デ = テ + U+3099) make another letter, not an accent, and
# unicode61 keeps them; so do Hangul syllables, which decompose into letters (jamo).
_NOT_ACCENTS = frozenset("\u3099\u309a")


class _FoldTable(dict):
    """str.translate table, filled on first sight of each character: a letter with
    accents folds to its base letter, a compatibility form (full-width Ａ) to its
    plain one; anything else only to its lower case."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        parts = unicodedata.normalize("NFKD", char)
        marks = parts[1:]
        if parts and all(unicodedata.combining(m) and m not in _NOT_ACCENTS for m in marks):
            char = parts[0]
        low = char.lower()
        low = _PLAIN.get(low, low)
        folded = low if len(low) == 1 and not unicodedata.combining(low) else chr(code)
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

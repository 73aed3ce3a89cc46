"""Other spellings of a word: what is typed on a keyboard without its letters.

The index's tokenizer (unicode61, remove_diacritics 2) folds `é` to `e` and `ü` to
`u`, so `cafe` finds "Café" and `Muller` "Müller". Beyond that:

- German writes ä, ö, ü as ae, oe, ue where the keyboard has no umlauts (`Mueller`
  for "Müller", `Goedel`, `Aerger`), as Danish and Norwegian write ø as oe and æ as
  ae (`Soeren`, `Caesar`), and œ is oe;
- ø, ł, đ, ı, ħ, ŧ have no decomposition, so unicode61 keeps them: `Soren`, `Lodz`,
  `kirmizi` (Turkish dotless ı) missed "Søren", "Łódź", "kırmızı";
- unicode61 keeps Greek accents (tonos): `σοφος` missed "σοφός", and `σοφός` missed
  "ΣΟΦΟΣ" (capitals are written without them).

The index holds, in each text field's `_parts` column, the other spellings of the
words holding such letters (spelling_terms: "mueller" for "Müller", "soeren" and
"soren" for "Søren"), so a plain word typed finds them, below the word written as
typed (the parts columns weigh less). A query word holding such letters also looks
for its other spellings (other_spellings: `Müller` for "Mueller" too), and a phrase
typed with ae, oe, ue for its words written with umlauts (undone_phrases).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from indexer.fold import fold, fold_name

# A digraph for each letter written so without it, applied to lower-case text
# (Danish writes å as aa: `Aarhus` is "Århus").
_DIGRAPHS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ø": "oe", "æ": "ae", "œ": "oe", "å": "aa"}
)
# The plainest spelling: æ and œ as two letters, the rest folded (fold.py), so that
# `blabaergrod` finds "blåbærgrød" (å as a, æ as ae, ø as o).
_PLAIN = str.maketrans({"æ": "ae", "œ": "oe"})
# Letters unicode61 keeps as they are (fold.py folds them to a plain letter).
_KEPT = frozenset("øłđıħŧ")
_GREEK = re.compile("[\u0370-\u03ff\u1f00-\u1fff]")
# Compatibility forms unicode61 keeps: Latin ligatures (ﬁ, ﬂ: text taken out of
# PDFs), full-width letters and digits (`ＡＰＩ`, typed with a Japanese IME).
_COMPAT = re.compile("[\ufb00-\ufb06\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
# A character that gives a word other spellings: a letter with a digraph, one
# unicode61 keeps, a Greek letter with an accent (precomposed: text is NFC here),
# a compatibility form.
_TRIGGER = re.compile(
    "[äöüåÄÖÜÅøØæÆœŒłŁđĐıħĦŧŦ\u0386\u0388-\u0390\u03aa-\u03b0\u03ca-\u03ce\u1f00-\u1fff"
    "\ufb00-\ufb06\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
)
# Words longer than this (a blob in an attachment's text) get no other spellings.
MAX_WORD = 64


def _unicode61(word: str) -> str:
    """About the token unicode61 makes of a lower-case word: accents folded but
    for Greek ones, letters without a decomposition and compatibility forms kept,
    ς as σ."""
    return "".join(
        c if c in _KEPT or _GREEK.match(c) or _COMPAT.match(c) else fold(c)
        for c in word.replace("ς", "σ")
    )


def spellings(word: str) -> set[str]:
    """Every folded spelling of a word (or of a phrase, word by word): with its
    accents and kept letters folded (fold.py), with its digraphs, and plainest
    (_PLAIN); compatibility forms as their plain letters (NFKC)."""
    low = unicodedata.normalize("NFKC", word).lower()
    return {fold(low), fold(low.translate(_DIGRAPHS)), fold(low.translate(_PLAIN))}


@lru_cache(maxsize=4096)  # the same few names on every row of a filter
def name_forms(name: str | None) -> str:
    """A person's name folded for matching part of it (`assignee:`), in each of its
    spellings, one per line: "Zoë Müller" is "zoe muller" and "zoe mueller"."""
    if name is None:
        return ""
    if name.isascii():
        return name.lower()
    folded = fold_name(name)
    if not _TRIGGER.search(unicodedata.normalize("NFC", name)):
        return folded
    return "\n".join(sorted({folded, *spellings(name)}))


def name_wanted(value: str) -> list[str]:
    """The spellings of a name typed in a filter (`assignee:müller`: "muller" and
    "mueller"), each to be found in name_forms."""
    if value.isascii():
        return [value.lower()]
    return sorted({fold_name(value), *other_spellings(value)})


def other_spellings(text: str) -> list[str]:
    """The spellings of `text` (a word or a phrase) a query also looks for: those
    its own tokens are not (see spellings)."""
    if text.isascii() or not _TRIGGER.search(unicodedata.normalize("NFC", text)):
        return []
    low = unicodedata.normalize("NFC", text).lower()
    return sorted(spellings(text) - {_unicode61(low)})


def spelling_terms(text: str) -> str:
    """For a `_parts` column: the other spellings of the distinct words of `text`
    that have any (space separated; "" when none has)."""
    if not text or text.isascii():
        return ""
    if not unicodedata.is_normalized("NFC", text):  # u + U+0308 is ü
        text = unicodedata.normalize("NFC", text)
    if not _TRIGGER.search(text):
        return ""
    known = _KNOWN
    if len(known) > _KNOWN_MAX:
        known.clear()
    out: dict[str, None] = {}
    for word in dict.fromkeys(_TRIGGER_WORD.findall(text)):
        found = known.get(word)
        if found is None:
            found = _index_spellings(word) if len(word) <= MAX_WORD else ()
            known[word] = found
        for spelling in found:
            out[spelling] = None
    return " ".join(out)


def _index_spellings(word: str) -> tuple[str, ...]:
    low = word.lower()
    own = _unicode61(low)
    return tuple(sorted(s for s in spellings(low) if s != own))


# A whole word (a unicode61 token, as [^\W_]+ reads one) holding a _TRIGGER.
# Anchored at the word's start, so a word without one costs one pass over it.
_TRIGGER_WORD = re.compile(r"(?<![^\W_])[^\W_]*" + _TRIGGER.pattern + r"[^\W_]*")
# Word -> its spellings for the index: a sync meets the same words in every issue.
_KNOWN: dict[str, tuple[str, ...]] = {}
_KNOWN_MAX = 65536


# A digraph of an umlaut (or of ø, æ, œ) typed in plain letters.
_TYPED_DIGRAPH = re.compile("ae|oe|ue|aa")
_UNDO = {"ae": ("a", "æ"), "oe": ("o", "ø", "œ"), "ue": ("u",), "aa": ("a",)}
# A phrase looks for at most this many mixes of its words written with umlauts.
MAX_UNDONE = 8


def _undone(token: str) -> list[str]:
    """The words `token` (lower case, plain letters) may stand for with its digraphs
    written as letters, as unicode61 reads them: `mueller` -> `muller` (Müller),
    `soeren` -> `soren`, `søren`. Every digraph of a word is undone alike."""
    if not _TYPED_DIGRAPH.search(token):
        return []
    out = []
    for way in range(3):

        def letter(m: re.Match, way: int = way) -> str:
            letters = _UNDO[m.group()]
            return letters[min(way, len(letters) - 1)]

        undone = _TYPED_DIGRAPH.sub(letter, token)
        if undone not in out:
            out.append(undone)
    return out


def undone_phrases(tokens: list[str]) -> list[tuple[list[str], list[int]]]:
    """For a phrase of several words typed in plain letters: the phrases its words
    with digraphs may stand for (`hans mueller` -> `hans muller`), each with the
    positions of the words undone, which the `_parts` column must hold as typed
    (the digraph spelling of "Müller" is there; "Muller" has none). At most
    MAX_UNDONE of them."""
    if len(tokens) < 2:
        return []
    choices = [[t, *_undone(t)] for t in tokens]
    if all(len(c) == 1 for c in choices):
        return []
    out: list[tuple[list[str], list[int]]] = []
    combos: list[tuple[list[str], list[int]]] = [([], [])]
    for at, options in enumerate(choices):
        combos = [
            (words + [option], changed + ([at] if n else []))
            for words, changed in combos
            for n, option in enumerate(options)
        ][: MAX_UNDONE + 1]
    for words, changed in combos:
        if changed:
            out.append((words, changed))
    return out[:MAX_UNDONE]

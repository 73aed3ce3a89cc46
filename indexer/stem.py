"""A light English stemmer for search: inflections only, no derivations.

`crash`, `crashes`, `crashed`, `crashing` share the key `crash`; `timeout`/`timeouts`,
`retry`/`retries`/`retried`, `cache`/`cached`/`caching` likewise. Unlike Porter it
leaves derived words apart (`configure` vs `configuration`, `general` vs `generate`),
so a stemmed match stays close to what was typed. The keys are not words: they only
need to agree between the index and the query.

Only ASCII words of letters, four or more long, are stemmed: identifiers with digits,
short words, accented and CJK text pass through untouched.

The index stores, per issue, the keys of the words whose key differs from the word
itself (`stem_terms`); a query word then matches its key anywhere (the literal key
in the text, or the stored keys of inflected forms): see indexer.query.Term.fts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MIN_LEN = 4
# ASCII text: letters lowered, digits kept as a non-letter (a token with a digit is
# an identifier, not stemmed), everything else a separator, as unicode61 does.
_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 35 if 48 <= c <= 57 else 32
    for c in range(256)
)
_VOWEL = re.compile(r"[aeiouy]")
_VOWELS = "aeiou"


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The key of one lower-case word (the word itself when nothing applies)."""
    w = word
    if len(w) < MIN_LEN or not w.isascii() or not w.isalpha():
        return w
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"  # retries, retried -> retry
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]  # timeouts -> timeout, crashes -> crashe (-> crash below)
    elif w.endswith("eed"):
        pass  # need, speed: not a past tense
    elif w.endswith("ed") and _VOWEL.search(w[:-2]) and len(w) >= 5:
        w = w[:-2]  # crashed -> crash, stopped -> stopp (-> stop below)
    elif w.endswith("ing") and _VOWEL.search(w[:-3]) and len(w) >= 6:
        w = w[:-3]  # crashing -> crash; string, thing stay
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # cache, caches, cached, caching -> cach
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in _VOWELS:
        w = w[:-1]  # stopp -> stop, and fall -> fal so that falling agrees
    return w


# Word (folded bytes from ASCII text, a token from other text) -> its key, or "" when
# it has none of its own: a sync asks the same few thousand words for every issue.
_KEYS: dict[bytes | str, str] = {}
_KEYS_MAX = 65536
# ...of words no longer than this: a long token (a hex dump, a blob in an attachment's
# text) is rarely seen twice, and 65,536 of them would be hundreds of megabytes.
_KEY_WORD_MAX = 64
# Other text: a whole unicode61 token (a run of letters and digits, as [^\W_]+ splits)
# of four or more ASCII letters, the only tokens stemmed; found without making the rest.
_ASCII_WORD = re.compile(r"(?<![^\W_])[A-Za-z]{4,}(?![^\W_])")


def _key_of(word: bytes | str) -> str:
    """The key of a word of stem_terms, "" when it is the word itself or not stemmed."""
    if type(word) is bytes:
        if len(word) < MIN_LEN or not word.isalpha():
            return ""
        word = word.decode()
    else:
        word = word.lower()
    key = stem(word)
    return key if key != word else ""


def stem_terms(text: str) -> str:
    """The keys of the distinct words of `text` whose key is not the word itself,
    space separated, for the stem columns of the index (empty when there are none).

    Each key is stored once per issue: the stem columns say that an inflection is
    there, the typed-word columns carry the counts that bm25 weighs. Listing every
    occurrence cost a third of the index write for nothing the ranking needs."""
    if not text:
        return ""
    if text.isascii():  # nearly all Jira text: split in C, no regex
        words: Iterable[bytes | str] = dict.fromkeys(text.encode().translate(_FOLD).split())
    else:
        words = dict.fromkeys(_ASCII_WORD.findall(text))
    known = _KEYS
    if len(known) > _KEYS_MAX:
        known.clear()
    keys: dict[str, None] = {}
    for word in words:
        key = known.get(word)
        if key is None:
            key = _key_of(word)
            if len(word) <= _KEY_WORD_MAX:
                known[word] = key
        if key:
            keys[key] = None
    return " ".join(keys)


# One syllable ending consonant-vowel-consonant: `not`, `hop`, `plan`. Such a key made
# from a longer word (notes, hoped, planes) is its base with the silent e dropped.
_SILENT_E_BASE = re.compile(r"^[^aeiouy]*[aeiouy][^aeiouywxsz]$")


def key_is_word(word: str, key: str) -> bool:
    """True when `key`, as a word of its own in a text, is the word that `word`
    inflects (crashes -> crash, fixes -> fix, bits -> bit, stopped -> stop); False
    when it is another word (notes -> not, hoped -> hop, planes -> plan), which a
    query for `word` must not find. Only keys stored for inflections agree then."""
    if word == key + "s" or word.startswith(key + key[-1:]):  # bits; stopped, falls
        return True
    return not _SILENT_E_BASE.match(key)


def stemmable(text: str) -> bool:
    """True when a query term is one plain word that has a key of its own."""
    return len(text) >= MIN_LEN and text.isascii() and text.isalpha()

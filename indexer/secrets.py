"""Keep credentials out of everything jiradex prints, logs or stores.

Code that loads a token calls `register()`; `redact()` replaces every registered
secret in a text. Front ends pass any text of unknown origin (exception messages,
server bodies) through `redact()` before showing it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_secrets: set[str] = set()

MIN_SECRET_LENGTH = 4


def register(secret: str | None) -> None:
    """Remember a secret so that `redact` hides it from now on."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """Replace every registered secret in `text` with a mask."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask(secret))
    return text


def mask(secret: str | None) -> str:
    """`****` plus the last 4 characters, or empty when there is no secret."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-4:]

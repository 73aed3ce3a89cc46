"""Counts in messages that read right at one: "1 issue", "2 issues"."""

from __future__ import annotations


def counted(n: int | None, noun: str, *, grouped: bool = False) -> str:
    """`n` and `noun`, plural unless n is 1; `grouped` writes 1,234 (the TUI's style)."""
    n = int(n or 0)
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {noun if n == 1 else noun + 's'}"

"""The search box's suggester: the rest of a filter value, from the index."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.suggester import Suggester

from indexer.errors import JiradexError
from indexer.suggest import complete_filter


class FilterValueSuggester(Suggester):
    """Suggests how the filter value at the end of the query goes on
    (indexer.suggest), read in a thread: the distinct values of a column are a
    query of their own once the index changed (tens of milliseconds at 300k)."""

    def __init__(self, store_of: Callable[[], Any]):
        # Not cached here: the values change with every sync (the store caches them
        # until the index changes). Case kept: the suggestion extends what was typed.
        super().__init__(use_cache=False, case_sensitive=True)
        self._store_of = store_of

    async def get_suggestion(self, value: str) -> str | None:
        if ":" not in value:
            return None
        return await asyncio.to_thread(self._suggest, value)

    def _suggest(self, value: str) -> str | None:
        try:
            store = self._store_of()
            return complete_filter(value, store.distinct_names)
        except (JiradexError, OSError):  # no usable index: no suggestion
            return None

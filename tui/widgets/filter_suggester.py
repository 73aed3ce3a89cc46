"""The search box's suggester: the rest of a filter value, from the index."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.suggester import Suggester

from indexer.errors import JiradexError
from indexer.suggest import complete_filter

# How long a column's values serve the suggestions. The store lists them again
# after any write, and a sync writes several times a second: listing the labels
# walks every issue (0.3-0.7 s at 100k), under the store's lock, so each key typed
# in a filter value held back the search behind it. A label new for a few seconds
# can wait to be suggested.
VALUES_KEPT_S = 20.0


class FilterValueSuggester(Suggester):
    """Suggests how the filter value at the end of the query goes on
    (indexer.suggest), read in a thread: the distinct values of a column are a
    query of their own once the index changed (tens of milliseconds at 300k, the
    labels much more)."""

    def __init__(self, store_of: Callable[[], Any]):
        # Not Textual's cache (by the text typed): the values change with the index.
        # Case kept: the suggestion extends what was typed.
        super().__init__(use_cache=False, case_sensitive=True)
        self._store_of = store_of
        self._kept: dict[str, tuple[Any, float, list[str]]] = {}

    async def get_suggestion(self, value: str) -> str | None:
        if ":" not in value:
            return None
        return await asyncio.to_thread(self._suggest, value)

    def _suggest(self, value: str) -> str | None:
        try:
            store = self._store_of()
            return complete_filter(value, lambda column: self._values_of(store, column))
        except (JiradexError, OSError):  # no usable index: no suggestion
            return None

    def _values_of(self, store: Any, column: str) -> list[str]:
        """The column's values, as read at most VALUES_KEPT_S ago from this store."""
        now = time.monotonic()
        kept = self._kept.get(column)
        if kept is not None and kept[0] is store and now - kept[1] < VALUES_KEPT_S:
            return kept[2]
        values = store.distinct_names(column)
        self._kept[column] = (store, now, values)
        return values

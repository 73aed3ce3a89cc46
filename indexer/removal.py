"""Removing a datasource: its issues leave the index first, then its configuration.

In that order, under the datasource's sync lock: an index that cannot be written
(damaged, busy) fails the removal with the datasource still configured, instead of
leaving issues in search results that no datasource owns; and no sync of it (in
any process) writes issues back meanwhile. The CLI and the TUI both remove this way.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer import config, paths
from indexer.errors import JiradexError
from indexer.locks import sync_lock


class IssuesNotRemoved(JiradexError):
    """The index could not forget the datasource's issues; nothing was removed."""


def remove_datasource(
    name: str, *, with_issues: bool = True, open_store: Callable | None = None
) -> tuple[config.Datasource, int | None]:
    """Remove datasource `name` and (`with_issues`) its indexed issues.

    Returns the removed datasource and how many issues the index forgot (None when
    they were kept, or there is no index yet). Raises locks.SyncBusy while a sync of
    it runs, IssuesNotRemoved when the index fails, ConfigError for an unknown name.
    """
    ds = config.get_datasource(name)
    forgotten = None
    with sync_lock(ds.name, doing="remove"):
        if with_issues and (open_store is not None or paths.index_path().exists()):
            if open_store is None:
                from indexer.store import Store

                open_store = Store
            try:
                with open_store() as store:
                    forgotten = store.remove_datasource(ds.name)
            except JiradexError as exc:
                raise IssuesNotRemoved(str(exc)) from exc
        removed = config.remove_datasource(ds.name)
    return removed, forgotten

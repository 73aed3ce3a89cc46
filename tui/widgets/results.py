"""The results table: key, summary, status, assignee, updated.

DataTable has no flexible column, so the summary column takes whatever width the
others leave, recomputed on resize; every cell is cut by terminal cells (CJK and
emoji safe) so rows stay aligned.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import DataTable

from tui.widgets.format import cell, fit, relative_age

FIXED = {"key": 10, "status": 12, "assignee": 14, "updated": 4}
NARROW = 76  # below this many cells the assignee column is dropped
WIDE = 120  # from this many cells of table on, names get room too (not only the summary)
WIDE_ASSIGNEE = 22


class ResultsTable(DataTable):
    """Search hits, one row per issue; the row key is the issue key."""

    DEFAULT_CSS = """
    ResultsTable { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.hits: list[Any] = []
        self._summary_width = 40
        self._key_width = FIXED["key"]
        self._assignee_width = FIXED["assignee"]

    def on_mount(self) -> None:
        self._build_columns()

    def _widths(self) -> dict[str, int]:
        width = self.size.width or 100
        widths = {**FIXED, "key": self._key_width}
        if width >= WIDE:
            widths["assignee"] = WIDE_ASSIGNEE
        if width < NARROW:
            del widths["assignee"]  # a narrow terminal keeps the summary readable
        # each column has one cell of padding either side; and the scrollbar's two
        # cells (one only was kept: a horizontal scrollbar took the last row)
        fixed = sum(widths.values()) + 2 * (len(widths) + 1) + self.styles.scrollbar_size_vertical
        return {**widths, "summary": max(12, width - fixed)}

    def _build_columns(self) -> None:
        widths = self._widths()
        self._summary_width = widths["summary"]
        self._assignee_width = widths.get("assignee", FIXED["assignee"])
        self.clear(columns=True)
        # Text labels: a str label is parsed as markup (and pulls in rich's emoji table)
        self.add_column(cell("Key"), width=widths["key"], key="key")
        self.add_column(cell("Summary"), width=widths["summary"], key="summary")
        self.add_column(cell("Status"), width=widths["status"], key="status")
        if "assignee" in widths:
            self.add_column(cell("Assignee"), width=widths["assignee"], key="assignee")
        self.add_column(cell("Upd"), width=widths["updated"], key="updated")

    def on_resize(self, event: events.Resize) -> None:
        if self._widths()["summary"] != self._summary_width or self._columns_changed():
            key = self.current_key
            self._build_columns()
            self._fill(key)

    def _columns_changed(self) -> bool:
        wanted = self._widths().get("assignee")
        current = next(
            (col.width for key, col in self.columns.items() if str(key.value) == "assignee"), None
        )
        return wanted != current

    def set_hits(self, hits: list[Any], keep_cursor: bool = False) -> None:
        """Replace the rows; the cursor starts on the best hit, or stays on the same
        issue (`keep_cursor`, for a refresh after a sync)."""
        key = self.current_key if keep_cursor else None
        self.hits = list(hits)
        key_width = min(14, max([5, *(len(h.key) for h in self.hits)]))
        if key_width != self._key_width:
            self._key_width = key_width
            self._build_columns()
        else:
            self.clear()
        self._fill(key)

    def _fill(self, keep: str | None) -> None:
        seen: set[str] = set()
        for hit in self.hits:
            row_key = hit.key if hit.key not in seen else f"{hit.key}@{hit.datasource}"
            seen.add(row_key)
            cells = [
                fit(hit.key, self._key_width),
                fit(hit.summary, self._summary_width),
                fit(hit.status or "", FIXED["status"]),
                fit(hit.assignee or "Unassigned", self._assignee_width),
                relative_age(hit.updated),
            ]
            if len(self.columns) == 4:
                del cells[3]
            self.add_row(*map(cell, cells), key=row_key)
        if keep is not None and keep in seen:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def refresh_ages(self) -> None:
        """The Upd column again, for the clock has moved since the rows came."""
        for row_key, hit in zip(list(self.rows), self.hits, strict=False):
            self.update_cell(row_key, "updated", cell(relative_age(hit.updated)))

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:
            return None

    @property
    def current_hit(self) -> Any | None:
        if not self.hits or not self.row_count:
            return None
        row = self.cursor_row
        return self.hits[row] if 0 <= row < len(self.hits) else None

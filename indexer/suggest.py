"""Finish the filter value being typed in a query: `status:in` -> `status:in progress"`.

The TUI's search box shows the rest dimmed after the cursor and takes it on Right.
The box draws a suggestion from the end of what was typed, so the typed letters
keep their case (filters compare without it). Accents differ: only assignee and
reporter ignore them, so for the other fields a typed `e` of `été` is replaced by
the value's own letter when the suggestion is taken (`datasource:eté` finds nothing).

In a list of values (`status:Open,Do`) the value after the last comma is finished.
A value with a space needs the quote typed first (`status:"in` then ` Progress"`):
unquoted, the space would end the filter. Assignee and reporter filters match a
part of the name, so unquoted they finish the word being typed (`assignee:kwa` ->
`kwame`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from indexer.fold import fold_name
from indexer.query import FILTER_FIELDS

# filter name -> the issues column its values come from
VALUE_COLUMNS = {
    "project": "project",
    "status": "status",
    "type": "issuetype",
    "priority": "priority",
    "datasource": "datasource",
    "assignee": "assignee",
    "reporter": "reporter",
    "label": "labels",
    "component": "components",
}
_PART_OF_NAME = {"assignee", "reporter"}
# The last word of the query, when it is a filter: -?name:"partial or -?name:partial
_LAST_FILTER = re.compile(r'(?:^|[\s(])-?([A-Za-z_]+):(?:"([^"]*)|([^\s"()]*))$')


def complete_filter(text: str, values_of: Callable[[str], list[str]]) -> str | None:
    """`text` with the filter value at its end finished, or None.

    `values_of(column)` gives the column's distinct values (Store.distinct_names);
    the first that continues the typed value wins, in the order given."""
    match = _LAST_FILTER.search(text)
    if not match or text.count('"', 0, match.start(1)) % 2:
        return None  # no filter, or `status:do` is words of a phrase ("... status:do)
    name = FILTER_FIELDS.get(match.group(1).lower())
    column = VALUE_COLUMNS.get(name or "")
    if column is None:
        return None
    quoted = match.group(2) is not None
    # A list of values (`status:Open,Do`): the one being typed is after the last comma.
    typed = (match.group(2) if quoted else match.group(3)).rpartition(",")[2]
    if not typed and not quoted:
        return None  # `status:` or `status:Open,` alone: nothing to go on yet
    for value in values_of(column):
        if not isinstance(value, str):
            continue
        candidates = [value] if quoted or name not in _PART_OF_NAME else value.split()
        for candidate in candidates:
            rest = _rest_of(candidate, typed)
            if rest is None or '"' in rest:
                continue
            if not quoted and (not rest or any(c.isspace() or c in "()" for c in rest)):
                continue
            spelled = typed if name in _PART_OF_NAME else _spelled_as(candidate, typed)
            return text[: len(text) - len(typed)] + spelled + rest + ('"' if quoted else "")
    return None


def _rest_of(value: str, typed: str) -> str | None:
    """What follows `typed` in `value` when `value` starts with it (regardless of
    case and accents), else None."""
    if len(value) < len(typed) or fold_name(value[: len(typed)]) != fold_name(typed):
        return None
    return value[len(typed) :]


def _spelled_as(value: str, typed: str) -> str:
    """`typed` as it must be for a filter that ignores case but not accents: as
    typed when it differs from the start of `value` in case only, else as `value`
    spells it (`e` -> `é`)."""
    start = value[: len(typed)]
    return typed if start.casefold() == typed.casefold() else start

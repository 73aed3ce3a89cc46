"""Times as the user reads them: in this machine's time zone.

The index stores every time in UTC (ISO text that sorts chronologically). Jira
shows times, and reads the dates of a JQL query, in the user's own zone; so does
jiradex when it shows a time to a person or reads a date they typed (`updated:
2024-05-01` is that day where the user is, as in JQL). Ages ("3h ago") need no
zone. The zone is the process's local one (`TZ`, else the system's); `--json`
output and task documents keep UTC, which they label.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# Before and after every stored time: the bounds of a period that runs past what
# datetime can hold (year 1 in a zone east of UTC, year 9999 west of it).
BEFORE_ALL = "0000"
AFTER_ALL = "9999-12-32"


def parse_utc(stamp: object) -> datetime | None:
    """A stored (or Jira) ISO time as an aware datetime; None when it is not one."""
    text = str(stamp or "").strip()
    if len(text) < 10:
        return None
    text = text.replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":  # Jira's +0000
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def shown_time(stamp: object) -> str:
    """`2024-05-01T12:00:00.000Z` -> `2024-05-01 14:00 CEST` in Paris: minutes and
    the zone's name, so a time copied elsewhere still says which zone it is in.
    Text that is not a time is returned as it is."""
    moment = parse_utc(stamp)
    if moment is None:
        return str(stamp or "")
    try:
        local = moment.astimezone()
    except (OverflowError, ValueError, OSError):  # out of the platform's range
        local = moment.astimezone(UTC)
    zone = local.strftime("%Z") or local.strftime("%z")
    if local.utcoffset() == timedelta(0) and _unknown_zone(
        os.environ.get("TZ"), os.environ.get("TZDIR")
    ):
        zone = "UTC"
    return f"{_day(local)} {local.hour:02d}:{local.minute:02d} {zone}"


# A POSIX TZ rule (EST5EDT, JST-9, CET-1CEST,M3.5.0,M10.5.0/3, <+03>-3): no file needed.
_POSIX_RULE = re.compile(r"^(<[^>]+>|[A-Za-z]{3,})[+-]?\d")


@lru_cache(maxsize=8)
def _unknown_zone(tz: str | None, tzdir: str | None = None) -> bool:
    """True for a TZ the C library could not read (a misspelt `Europe/Pariss`): it
    then keeps UTC, named after the TZ's first letters ("Europe"), and a time shown
    as "12:00 Europe" would read as a time in Europe.

    The C library reads zone files from TZDIR or the system's zoneinfo directory,
    not from Python's tzdata package: on a system without zone files (a slim
    container) Europe/Paris is unknown to it too, though ZoneInfo finds it."""
    if not tz:
        return False
    name = tz[1:] if tz.startswith(":") else tz
    if not name or _POSIX_RULE.match(name):
        return False
    if name.startswith("/"):
        return not os.path.isfile(name)
    import zoneinfo

    folders = [tzdir] if tzdir else list(zoneinfo.TZPATH)
    return not any(os.path.isfile(os.path.join(folder, name)) for folder in folders)


def shown_day(stamp: object) -> str:
    """The local date of a stored time (`2024-05-01`), for a column of dates."""
    moment = parse_utc(stamp)
    if moment is None:
        return str(stamp or "")[:10]
    try:
        return _day(moment.astimezone())
    except (OverflowError, ValueError, OSError):
        return _day(moment)


def utc_text(local: datetime) -> str:
    """A naive local moment (what the user typed) as stored-time text, comparable
    with the index's times; past the ends of time it is BEFORE_ALL or AFTER_ALL."""
    try:
        moment = local.astimezone(UTC)  # naive: read as local time, DST included
    except (OverflowError, ValueError, OSError):
        return BEFORE_ALL if local.year < 5000 else AFTER_ALL
    return f"{_day(moment)}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.000Z"


def _day(moment: datetime) -> str:
    # Not strftime: glibc writes year 99 as "99", which sorts after "2024".
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"

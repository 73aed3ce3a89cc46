"""Where jiradex keeps its configuration, index and logs.

`JIRADEX_HOME=DIR` puts everything under DIR (tests and scripts never touch the
user's home); otherwise the platform's usual places, from platformdirs.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import platformdirs

APP_NAME = "jiradex"


def home_override() -> Path | None:
    value = os.environ.get("JIRADEX_HOME", "").strip()
    if not value:
        return None
    home = Path(value).expanduser()
    if home.exists() and not home.is_dir():
        from indexer.errors import ConfigError

        raise ConfigError(f"JIRADEX_HOME {str(home)!r} is a file, not a directory")
    return home


def config_dir() -> Path:
    """Directory of datasources.json, jira.json and settings.json."""
    home = home_override()
    if home is not None:
        return home / "config"
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Directory of the index database and task files."""
    home = home_override()
    if home is not None:
        return home / "data"
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    home = home_override()
    if home is not None:
        return home / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def index_path() -> Path:
    """The SQLite FTS5 index."""
    return data_dir() / "index.db"


def tasks_path() -> Path:
    """The task database (imported issues, their results and posts)."""
    return data_dir() / "tasks" / "tasks.db"


def datasources_path() -> Path:
    return config_dir() / "datasources.json"


def jira_config_path() -> Path:
    return config_dir() / "jira.json"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def ensure_dir(path: Path) -> Path:
    """Create a directory (private to the user) if it is missing. One that cannot be
    made (a file in its place, no permission) is one clear error, not an OSError."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        from indexer.errors import JiradexError

        raise JiradexError(f"cannot create the directory {path}: {_why_not(path, exc)}") from None
    return path


def require_writable(directory: Path, doing: str) -> None:
    """One clear line before `doing` (a sync, a rebuild) in a home this user cannot
    write, rather than an error at its first write (or, for a sync, after fetching)."""
    place = _nearest_existing(directory)
    if place is not None and not os.access(place, os.W_OK):
        from indexer.errors import JiradexError

        raise JiradexError(
            f"cannot {doing}: the jiradex home is read-only here ({place} cannot be "
            "written by this user); nothing was changed"
        )


def can_make_in(directory: Path) -> bool:
    """Whether this user could make `directory` (if missing) and files in it."""
    place = _nearest_existing(directory)
    return place is not None and os.access(place, os.W_OK)


def _nearest_existing(directory: Path) -> Path | None:
    return next((p for p in (directory, *directory.parents) if p.exists()), None)


def _why_not(path: Path, exc: OSError) -> str:
    """A file where the directory (or one of its parents) should be, else the OS's reason."""
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            return f"{place} is a file, not a directory"
    return write_refused(exc)


def write_refused(exc: OSError) -> str:
    """Why the OS refused a write under the jiradex home, for a one-line error: a home
    that cannot be written (a read-only mount or volume, a home made read-only, files
    of another user) says so in words, not only as the OS's errno text."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EROFS:
        return "the jiradex home is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"the jiradex home is read-only for this user ({reason})"
    return reason

"""Run the real `jiradex` entry point in-process, for CLI tests.

CliRunner normally calls the Click group; going through `cli.main` instead means
errors take the real path to the shell (one `jiradex:` line, the documented exit code).
"""

from __future__ import annotations

from click.testing import CliRunner

import cli


class Entry:
    """What CliRunner invokes: `cli.main`, as the console script does."""

    name = "jiradex"

    def main(self, args=None, prog_name=None, **_):
        cli.main(list(args or []))


def run(*args: str, stdin: str | None = None, env: dict | None = None, color: bool = False):
    """`jiradex ARGS...`, with stdout and stderr kept apart."""
    return CliRunner().invoke(
        Entry(), list(args), input=stdin, env=env, color=color, catch_exceptions=False
    )

"""jiradex command line: a Click group whose commands are thin calls into `indexer/`.

Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 success,
1 an error (one clear line on stderr), 2 a usage error. With no arguments it opens
the TUI.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from indexer import secrets
from indexer.errors import JiradexError

# --------------------------------------------------------------------------- helpers


def emit_json(value: Any) -> None:
    """Print one JSON document to stdout."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def emit_json_line(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


def fail(message: str) -> None:
    """Stop with exit code 1 and one line on stderr."""
    raise JiradexError(message)


# --------------------------------------------------------------------------- group


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jiradex", prog_name="jiradex")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """jiradex: a fast, offline, full-text index of Jira that turns issues into work.

    Run with no command to open the terminal UI.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui_command)


@cli.command("tui")
def tui_command() -> None:
    """Open the terminal UI."""
    from tui.app import run_app

    run_app()


# --------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: maps engine errors to one line on stderr and exit 1."""
    try:
        cli.main(args=argv, prog_name="jiradex", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except JiradexError as exc:
        click.echo(f"jiradex: {secrets.redact(str(exc))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("jiradex: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # the last net: never a traceback for the user
        if os.environ.get("JIRADEX_DEBUG"):
            raise
        detail = secrets.redact(" ".join(str(exc).split())) or type(exc).__name__
        click.echo(f"jiradex: internal error ({type(exc).__name__}): {detail}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""jiradex command line: a Click group whose commands are thin calls into `indexer/`.

Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 success,
1 an error (one clear line on stderr), 2 a usage error. With no arguments it opens
the TUI.
"""

from __future__ import annotations

import json
import os
import sys
import threading
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


# --------------------------------------------------------------------------- sync, index, demo


class ProgressLine:
    """Sync progress on stderr: a redrawn bar on a terminal, sparse lines otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_draw = 0.0
        self.last_phase: tuple[str, str] | None = None
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        import time

        with self.lock:
            now = time.monotonic()
            phase_key = (event.datasource, event.phase)
            new_phase = phase_key != self.last_phase
            if not new_phase and now - self.last_draw < (0.1 if self.tty else 5.0):
                return
            self.last_phase, self.last_draw = phase_key, now
            line = self.describe(event)
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + line)
                if event.phase == "done":
                    sys.stderr.write("\n")
                sys.stderr.flush()
            elif new_phase or event.phase == "fetching":
                click.echo(line, err=True)

    @staticmethod
    def describe(event) -> str:
        name = event.datasource
        if event.phase == "listing":
            return f"{name}: listing issues… {event.done}"
        if event.phase == "reconciling":
            return f"{name}: checking for deleted issues…"
        if event.phase == "done":
            return f"{name}: done, {event.done} issues written"
        total = event.total or 0
        width = 28
        filled = int(width * event.done / total) if total else width
        bar = "█" * filled + "░" * (width - filled)
        eta = f" ETA {event.eta:.0f}s" if event.eta is not None else ""
        return f"{name}: {bar} {event.done}/{total} issues {event.rate:,.0f}/s{eta}"


def _selected_datasources(names: tuple[str, ...]) -> list:
    from indexer.config import get_datasource, load_datasources

    if names:
        return [get_datasource(name) for name in names]
    datasources = [ds for ds in load_datasources() if ds.enabled]
    if not datasources:
        fail("no enabled datasource: add one with `jiradex datasource add` (or try `jiradex demo`)")
    return datasources


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        emit_json_line(summary.to_json())
        return
    if summary.status == "ok":
        click.echo(
            f"{summary.datasource}: ok, {summary.issues} issues, {summary.comments} comments, "
            f"{summary.attachments} attachments written, {summary.deleted} deleted "
            f"in {summary.seconds:.1f}s"
        )
    else:
        click.echo(f"{summary.datasource}: {summary.status}: {summary.error}")


@cli.command("sync")
@click.argument("names", nargs=-1)
@click.option("--full", is_flag=True, help="Re-fetch everything and remove issues Jira no longer has.")
@click.option("--watch", is_flag=True, help="Keep running; sync each datasource at its interval.")
@click.option("--json", "as_json", is_flag=True, help="One JSON summary line per datasource.")
def sync_command(names: tuple[str, ...], full: bool, watch: bool, as_json: bool) -> None:
    """Sync datasources into the index (all enabled ones when no NAME is given).

    Progress goes to stderr, one summary per datasource to stdout. Exits 1 when any
    datasource failed, after syncing the others.
    """
    from indexer.store import Store
    from indexer.sync import sync_datasource

    datasources = _selected_datasources(names)
    progress = ProgressLine()
    if watch:
        _watch(names, progress, as_json)
        return
    failed = False
    store = Store()
    try:
        for ds in datasources:
            summary = sync_datasource(ds, store=store, full=full, progress=progress)
            _print_summary(summary, as_json)
            failed = failed or summary.status != "ok"
    finally:
        store.close()
    if failed:
        sys.exit(1)


def _watch(names: tuple[str, ...], progress, as_json: bool) -> None:
    import signal

    from indexer.scheduler import watch
    from indexer.store import Store

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("watching: Ctrl-C to stop", err=True)
    try:
        watch(
            lambda: _selected_datasources(names),
            Store,
            lambda summary: _print_summary(summary, as_json),
            stop,
            progress=progress,
        )
    except KeyboardInterrupt:
        stop.set()
        click.echo("\nstopping: letting running syncs finish their batch…", err=True)


@cli.group("index")
def index_group() -> None:
    """Look after the local index."""


@index_group.command("check")
def index_check_command() -> None:
    """Verify the index: SQLite and FTS integrity, rows and full-text in step."""
    from indexer.store import Store

    store = Store()
    try:
        problems = store.integrity_check()
    finally:
        store.close()
    if problems:
        fail("index check failed: " + "; ".join(problems))
    click.echo("index ok")


@index_group.command("rebuild")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def index_rebuild_command(yes: bool) -> None:
    """Delete the index and re-sync every enabled datasource from Jira.

    The configuration and tasks are kept; use this when the index is corrupt.
    """
    from indexer import paths
    from indexer.store import Store
    from indexer.sync import sync_datasource

    datasources = _selected_datasources(())
    if not yes and sys.stdin.isatty():
        click.confirm("Delete the local index and re-sync it from Jira?", abort=True)
    for suffix in ("", "-wal", "-shm"):
        target = paths.index_path().with_name(paths.index_path().name + suffix)
        target.unlink(missing_ok=True)
    store = Store()
    failed = False
    try:
        for ds in datasources:
            summary = sync_datasource(ds, store=store, full=True, progress=ProgressLine())
            _print_summary(summary, False)
            failed = failed or summary.status != "ok"
    finally:
        store.close()
    if failed:
        sys.exit(1)


@cli.command("demo")
@click.option("--headless", is_flag=True, help="No TUI: print the sync summary and a search.")
@click.option("--issues", "issue_count", default=3000, show_default=True, help="Issues to generate.")
@click.option("--latency-ms", default=0, show_default=True, help="Latency fakejira adds per request.")
def demo_command(headless: bool, issue_count: int, latency_ms: int) -> None:
    """Try jiradex on a generated project served by a local fake Jira.

    Uses JIRADEX_HOME when set, otherwise a temporary home that is removed on exit,
    so the demo never touches your own configuration.
    """
    from indexer.demo import DEMO_DATASOURCE, DEMO_QUERY, demo_home, demo_server

    with demo_home() as temporary:
        if temporary:
            click.echo(f"demo: using a temporary home {temporary}", err=True)
        click.echo(f"demo: starting a local fake Jira with {issue_count} issues…", err=True)
        with demo_server(issue_count, latency_ms) as server:
            click.echo(f"demo: fake Jira at {server.url}, datasource {DEMO_DATASOURCE!r}", err=True)
            if not headless:
                from tui.app import run_app

                run_app(start_sync=[DEMO_DATASOURCE])
                return
            _demo_headless(DEMO_DATASOURCE, DEMO_QUERY)


def _demo_headless(name: str, query: str) -> None:
    from indexer.config import get_datasource
    from indexer.search import search
    from indexer.store import Store
    from indexer.sync import sync_datasource

    store = Store()
    try:
        summary = sync_datasource(get_datasource(name), store=store, progress=ProgressLine())
        _print_summary(summary, as_json=False)
        if summary.status != "ok":
            sys.exit(1)
        hits = search(store, query, limit=5)
        click.echo(f'\nsearch "{query}": top {len(hits)}')
        for hit in hits:
            click.echo(f"  {hit.key:<10} {hit.summary[:80]}")
    finally:
        store.close()


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

"""jiradex command line: a Click group whose commands are thin calls into `indexer/`.

Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 success,
1 an error (one clear line on stderr), 2 a usage error. With no arguments it opens
the TUI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
import threading
from typing import Any


def _interrupted_while_starting(*_: object) -> None:
    """Ctrl-C while the modules below load: one line and 130, not a traceback."""
    sys.stderr.write("jiradex: interrupted\n")
    raise SystemExit(130)


try:  # put back at the end of this module, before main() runs
    _sigint_before_import = signal.signal(signal.SIGINT, _interrupted_while_starting)
except ValueError:  # imported outside the main thread
    _sigint_before_import = None

import click  # noqa: E402

from indexer import config, connectors, paths, secrets  # noqa: E402
from indexer.errors import JiradexError  # noqa: E402
from indexer.localtime import shown_day, shown_time  # noqa: E402
from indexer.wording import counted  # noqa: E402

# --------------------------------------------------------------------------- helpers


def emit_json(value: Any) -> None:
    """Print one JSON document to stdout."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def emit_json_line(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


# Escape sequences (CSI; OSC, DCS and the other strings, when terminated; ESC and one
# character) and the control characters left (all but tab and newline), 7- and 8-bit.
# A lone 8-bit string introducer (U+009D is in the mojibake of a closing quote) or an
# unterminated ESC ] goes alone: read as a string, it took all the text after it.
_TERMINAL_UNSAFE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """Text that came from Jira (summaries, bodies, names, error messages) as it may
    reach a terminal: whoever can edit an issue must not clear the screen, move the
    cursor, retitle the window or write the clipboard of whoever reads it."""
    return _TERMINAL_UNSAFE.sub("", text)


def fail(message: str) -> None:
    """Stop with exit code 1 and one line on stderr."""
    raise JiradexError(message)


# --------------------------------------------------------------------------- Tab completion
# Click asks these when a shell completes a word (see `jiradex completion`).


def _complete_datasource(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from indexer import completion

    given = set(ctx.params.get(param.name or "") or ()) if param.nargs == -1 else set()
    return [n for n in completion.datasource_names(incomplete) if n not in given]


def _complete_task(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    from indexer import completion

    return [
        CompletionItem(ident, help=terminal_safe(about))
        for ident, about in completion.task_ids(incomplete)
    ]


def _complete_key(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    from indexer import completion

    return [
        CompletionItem(key, help=terminal_safe(summary))
        for key, summary in completion.issue_keys(incomplete)
    ]


def _use_own_bash_completion() -> None:
    """Replace Click's bash completion with _BashComplete (only when a shell asks:
    it costs an import every other command does without)."""
    from click.shell_completion import BashComplete, add_completion_class

    class _BashComplete(BashComplete):
        """Click's bash protocol, with two things bash does its own way:

        - bash breaks words at `=`: `--datasource=wo` comes as `--datasource`, `=`,
          `wo`, which Click read as the value `=` and a word `wo` (nothing offered);
        - bash inserts a candidate as it is: a datasource named `my ds` became two
          words, `jiradex sync my ds`. Unless the word was begun with a quote (bash
          then closes it), a candidate is backslash-escaped as the shell reads it,
          and its backslashes doubled for the script's `read`, which takes one.
        """

        def get_completion_args(self) -> tuple[list[str], str]:
            args, incomplete = super().get_completion_args()
            words = _rejoin_option_values([*args, incomplete])
            raw = os.environ["COMP_WORDS"].split("\n")  # the script joins them so
            cword = int(os.environ["COMP_CWORD"])
            self._quoted = cword < len(raw) and raw[cword][:1] in ("'", '"')
            return words[:-1], words[-1]

        def format_completion(self, item) -> str:
            value = item.value if self._quoted else _bash_escaped(item.value)
            return f"{item.type},{value}".replace("\\", "\\\\")

    add_completion_class(_BashComplete, "bash")


def _rejoin_option_values(words: list[str]) -> list[str]:
    """`--opt`, `=`, `value` (bash's words for `--opt=value`) as `--opt=value`."""
    joined: list[str] = []
    glued = False  # the last word ends with an `=` taken from its own word
    for word in words:
        if word == "=" and joined and joined[-1].startswith("--") and not glued:
            joined[-1] += "="
            glued = True
        elif glued and joined[-1].endswith("="):
            joined[-1] += word
            glued = False
        else:
            joined.append(word)
            glued = False
    return joined


def _bash_escaped(value: str) -> str:
    """`value` as bash reads it back as one word (`my ds` -> `my\\ ds`)."""
    return re.sub(r"""([\s'"\\$`|&;<>()*?\[\]#~!{}^])""", r"\\\1", value)


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
    _need_terminal("use `jiradex search`, `show` and `sync` in scripts")
    from tui.app import run_app

    run_app()


def _has_terminal() -> bool:
    """The TUI reads stdin and draws on stderr: both must be a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _need_terminal(instead: str) -> None:
    """Stop before the TUI starts without a terminal to draw on: it would never end,
    writing escape codes into a file or pipe."""
    if not _has_terminal():
        fail(f"the TUI needs a terminal (stdin or stderr is not one here): {instead}")


# --------------------------------------------------------------------------- sync, index, demo


class ProgressLine:
    """Sync progress on stderr: a redrawn bar on a terminal, sparse lines otherwise."""

    open_bar = False  # a bar is drawn on the terminal without its line ended

    @classmethod
    def erase(cls) -> None:
        """Take an unfinished bar off the terminal before a line that replaces it."""
        if cls.open_bar:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            cls.open_bar = False

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
                ProgressLine.open_bar = event.phase != "done"
                sys.stderr.flush()
            elif new_phase or event.phase == "fetching":
                click.echo(line, err=True)

    @staticmethod
    def describe(event) -> str:
        name = event.datasource
        if event.phase == "listing":
            written = f" ({event.written} written)" if event.written else ""
            return f"{name}: listing issues… {event.done}{written}"
        if event.phase == "reconciling":
            return f"{name}: checking for deleted issues…"
        if event.phase == "done":
            return f"{name}: done, {counted(event.done, 'issue')} written"
        total = event.total or 0
        width = 28
        filled = int(width * event.done / total) if total else width
        bar = "█" * filled + "░" * (width - filled)
        eta = f" ETA {event.eta:.0f}s" if event.eta is not None else ""
        return f"{name}: {bar} {event.done}/{total} issues {event.rate:,.0f}/s{eta}"


def _selected_datasources(names: tuple[str, ...]) -> list:
    from indexer.config import get_datasource, load_datasources

    if names:  # each once, however often (or in whatever case) it was named
        chosen = {}
        for name in names:
            ds = get_datasource(name)
            chosen.setdefault(ds.name, ds)
        return list(chosen.values())
    datasources = [ds for ds in load_datasources() if ds.enabled]
    if not datasources:
        fail("no enabled datasource: add one with `jiradex datasource add` (or try `jiradex demo`)")
    return datasources


def _print_summary(summary, as_json: bool) -> None:
    ProgressLine.erase()
    if as_json:
        line = summary.to_json()
        if line.get("status") not in ("ok", "error"):
            # The contract's status is "ok" or "error": a cancelled run is an error
            # here, with its reason in "error" and a flag scripts can test.
            line["cancelled"] = line.get("status") == "cancelled"
            line["interrupted"] = line.get("status") == "interrupted"
            line["status"] = "error"
        emit_json_line(line)
        return
    if summary.status == "ok":
        click.echo(
            f"{summary.datasource}: ok, {counted(summary.issues, 'issue')}, "
            f"{counted(summary.comments, 'comment')}, "
            f"{counted(summary.attachments, 'attachment')} written, {summary.deleted} deleted "
            f"in {summary.seconds:.1f}s"
        )
    elif summary.status in ("interrupted", "cancelled"):
        how = "interrupted (Ctrl-C)" if summary.status == "interrupted" else "cancelled"
        click.echo(
            f"{summary.datasource}: {how}, {counted(summary.issues, 'issue')} written before it "
            "stopped "
            "(kept; the next sync resumes)"
        )
    else:
        click.echo(f"{summary.datasource}: {summary.status}: {terminal_safe(summary.error or '')}")


@cli.command("sync")
@click.argument("names", nargs=-1, shell_complete=_complete_datasource)
@click.option(
    "--full", is_flag=True, help="Re-fetch everything and remove issues Jira no longer has."
)
@click.option("--watch", is_flag=True, help="Keep running; sync each datasource at its interval.")
@click.option("--json", "as_json", is_flag=True, help="One JSON summary line per datasource.")
def sync_command(names: tuple[str, ...], full: bool, watch: bool, as_json: bool) -> None:
    """Sync datasources into the index (all enabled ones when no NAME is given).

    Progress goes to stderr, one summary per datasource to stdout. Exits 1 when any
    datasource failed, after syncing the others. Ctrl-C stops the sync (whole batches
    are kept, the run is recorded as interrupted, the next sync resumes) and exits 130.

    With --watch, Ctrl-C during a sync does the same (exit 130); Ctrl-C between two
    syncs, or SIGTERM, is a clean stop and exits 0 (a sync that SIGTERM stops is
    recorded as cancelled).
    """
    from indexer.store import Store
    from indexer.sync import SyncInterrupted, sync_datasource

    if watch and full:  # the scheduler runs incremental syncs only
        raise click.UsageError("--full and --watch cannot be combined: run `sync --full` first")
    _warn_exposed_tokens()
    datasources = _selected_datasources(names)
    paths.require_writable(paths.data_dir(), "sync")
    progress = ProgressLine()
    if watch:
        _watch(names, progress, as_json)
        return
    failed: list[str] = []
    store = Store()
    try:
        for ds in datasources:
            try:
                summary = sync_datasource(ds, store=store, full=full, progress=progress)
            except SyncInterrupted as stopped:  # Ctrl-C: say what the run wrote, then stop
                _print_summary(stopped.summary, as_json)
                raise
            _print_summary(summary, as_json)
            if summary.status != "ok":
                failed.append(ds.name)
    finally:
        store.close()
    _fail_if_any_failed(failed, len(datasources))


def _fail_if_any_failed(failed: list[str], total: int) -> None:
    """Exit 1 with one line on stderr when a datasource's sync failed (its summary,
    with the reason, is on stdout with the others')."""
    if failed:
        which = ", ".join(failed)
        fail(f"{len(failed)} of {total} datasource syncs failed: {which}")


def _watched_loader(names: tuple[str, ...]):
    """What `sync --watch NAME ...` re-reads every tick: the named datasources as they
    are now. One removed meanwhile is dropped with a warning (once), rather than its
    lookup failing every tick and holding up the others."""
    if not names:
        return lambda: _selected_datasources(names)
    from indexer.config import load_datasources

    wanted = {name.strip().casefold() for name in names}
    said: set[str] = set()

    def load() -> list:
        found = [ds for ds in load_datasources() if ds.name.casefold() in wanted]
        missing = wanted - {ds.name.casefold() for ds in found}
        for name in sorted(missing - said):
            _warn(f"datasource {name!r} no longer exists: --watch stops syncing it")
        said.intersection_update(missing)  # one added back is watched, and said again
        said.update(missing)
        return found

    return load


def _watch(names: tuple[str, ...], progress, as_json: bool) -> None:
    import signal

    from indexer.scheduler import watch
    from indexer.store import Store

    # The scheduler only runs enabled datasources with sync enabled: say so rather
    # than wait forever on one that will never run.
    watched = []
    for ds in _selected_datasources(names):
        if ds.enabled and ds.sync_enabled:
            watched.append(ds.name)
        else:
            what = "is disabled" if not ds.enabled else "has scheduled sync turned off"
            _warn(f"datasource {ds.name!r} {what}: --watch skips it")
    if not watched:
        fail("nothing to watch: enable a datasource with `jiradex datasource enable NAME`")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"watching {', '.join(watched)}: Ctrl-C to stop", err=True)
    # Ctrl-C reaches this thread: watch() then interrupts the running syncs, waits for
    # their batch, and returns their summaries (printed already by the sync threads).
    interrupted = watch(
        _watched_loader(names),
        Store,
        lambda summary: _print_summary(summary, as_json),
        stop,
        progress=progress,
        on_stopping=lambda: click.echo(
            "\nstopping: ending the running syncs (Ctrl-C again to quit now)…",
            err=True,
        ),
        on_held=lambda name, seconds: _warn(
            f"{name}: not synced for another {seconds:.0f} s, as Jira asked (rate limit)"
        ),
    )
    if interrupted:  # as plain `sync` on Ctrl-C: "jiradex: interrupted", exit 130
        raise KeyboardInterrupt


@cli.group("index")
def index_group() -> None:
    """Look after the local index."""


@index_group.command("check")
def index_check_command() -> None:
    """Verify the index: SQLite and FTS integrity, rows and full-text in step."""
    store = _open_index_for_reading()  # none there: say so, rather than make one
    try:
        problems = store.integrity_check()
    finally:
        store.close()
    if problems:
        fail("index check failed: " + "; ".join(problems))
    if store.read_only:
        click.echo(
            "jiradex: the index is read-only here: FTS5's own integrity-check (which "
            "needs to write) was left out; SQLite's check and the row counts ran",
            err=True,
        )
    click.echo("index ok")


@index_group.command("rebuild")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def index_rebuild_command(yes: bool) -> None:
    """Replace the index with a fresh sync of every enabled datasource from Jira.

    The configuration and tasks are kept; use this when the index is corrupt. The new
    index is built beside the old one, which is replaced only when every sync succeeded.
    """
    from indexer import paths
    from indexer.store import Store
    from indexer.sync import sync_datasource

    datasources = _selected_datasources(())
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("index rebuild deletes the local index: pass --yes to confirm")
        click.confirm("Delete the local index and re-sync it from Jira?", abort=True)
    index = paths.index_path()
    if index.is_dir():  # it could never be replaced: say so before the syncs
        fail(
            f"{index} is a directory, not an index: move it away, then run "
            "`jiradex index rebuild` again"
        )
    fresh = index.with_name(index.name + ".rebuild")
    kept = "the index is kept as it was"
    # A read-only home: said before the syncs, which would fetch it all for nothing.
    paths.require_writable(index.parent, "rebuild the index")
    try:
        _remove_database(fresh)  # what a rebuild that was stopped left behind
    except OSError as exc:
        fail(f"cannot rebuild the index: cannot remove {fresh}: {paths.write_refused(exc)}; {kept}")
    failed: list[str] = []
    try:
        store = Store(fresh)
        try:
            for ds in datasources:
                summary = sync_datasource(ds, store=store, full=True, progress=ProgressLine())
                _print_summary(summary, False)
                if summary.status != "ok":
                    failed.append(ds.name)
            if not failed:  # every page in the main file, so it can move alone
                store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()
        if failed:
            fail(
                f"{len(failed)} of {len(datasources)} datasource syncs failed: "
                f"{', '.join(failed)}; the index is kept as it was (fix or disable "
                "the datasource, then rebuild again)"
            )
        # The old WAL goes first: left beside the new file it would be replayed into it.
        try:
            for suffix in ("-wal", "-shm"):
                index.with_name(index.name + suffix).unlink(missing_ok=True)
            os.replace(fresh, index)
        except OSError as exc:
            fail(f"cannot replace the index {index}: {paths.write_refused(exc)}")
    finally:
        with contextlib.suppress(OSError):
            _remove_database(fresh)


def _remove_database(path) -> None:
    """Delete an SQLite database and its WAL files, if there."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@cli.command("demo")
@click.option("--headless", is_flag=True, help="No TUI: print the sync summary and a search.")
@click.option(
    "--issues",
    "issue_count",
    default=3000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Issues to generate.",
)
@click.option(
    "--latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Latency fakejira adds per request.",
)
def demo_command(headless: bool, issue_count: int, latency_ms: int) -> None:
    """Try jiradex on a generated project served by a local fake Jira.

    Uses JIRADEX_HOME when set, otherwise a temporary home that is removed on exit,
    so the demo never touches your own configuration.
    """
    from indexer.demo import DEMO_QUERY, demo_home, demo_server

    if not headless and not _has_terminal():
        # The README's first command, run by a script or CI: the headless demo is the
        # same job with its result printed, where a TUI would draw forever.
        click.echo("demo: no terminal here: running it headless (--headless)", err=True)
        headless = True
    with demo_home() as temporary:
        if temporary:
            click.echo(f"demo: using a temporary home {temporary}", err=True)
        click.echo(f"demo: starting a local fake Jira with {issue_count} issues…", err=True)
        with demo_server(issue_count, latency_ms) as demo:
            click.echo(f"demo: fake Jira at {demo.url}, datasource {demo.datasource!r}", err=True)
            if not headless:
                from tui.app import run_app

                run_app(start_sync=[demo.datasource])
                return
            _demo_headless(demo.datasource, DEMO_QUERY)


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


# =========================================================================== config
# Datasources, connectors and the global Jira connection (owner: config helper).
# Thin wrappers: validation, storage and masking live in indexer/config.py and
# indexer/connectors.py. Other helpers add `datasource test` and `jira connect|test`
# to the groups defined here.


def _warn(message: str) -> None:
    click.echo(f"jiradex: warning: {terminal_safe(message)}", err=True)


def _warn_exposed_tokens(lines: list[str] | None = None) -> None:
    for line in config.exposed_token_warnings() if lines is None else lines:
        _warn(line)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _explicit(ctx: click.Context, *names: str) -> list[str]:
    """Options among `names` the user actually gave (not defaults)."""
    given = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source != click.core.ParameterSource.DEFAULT:
            given.append(name)
    return given


JSON_ARGUMENT_MAX = 1024 * 1024  # more is a wrong file (/dev/zero, a dump), not datasources


def _read_json_argument(location: str) -> str:
    if location == "-":  # a BOM, as files get (PowerShell pipes add one), is no JSON
        text = sys.stdin.read(JSON_ARGUMENT_MAX + 1).removeprefix("\ufeff")
    else:
        try:
            with open(location, encoding="utf-8-sig") as handle:
                text = handle.read(JSON_ARGUMENT_MAX + 1)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            fail(f"cannot read {location}: {reason}")
            raise  # unreachable: fail() raises
    if len(text) > JSON_ARGUMENT_MAX:
        fail(
            f"{'stdin' if location == '-' else location} is over 1 MB: that is no datasource payload"
        )
    return text


def _describe_datasource(ds: config.Datasource) -> str:
    auth = {
        "basic": "basic auth",
        "bearer": "personal access token",
        "anonymous": "anonymous",
        "service_account": "service account",
    }[ds.auth_mode]
    sync = f"sync every {ds.interval}" if ds.sync_enabled else "scheduled sync off"
    state = "" if ds.enabled else ", disabled"
    return f"{ds.project_key} on {ds.endpoint}, {auth}, {sync}{state}"


@cli.group("datasource")
def datasource_group() -> None:
    """Jira projects to index (datasources in Coco's shape)."""


def _token_option(token: str | None, token_env: str | None) -> str | None:
    """The token given by --token or read from the variable --token-env names."""
    if token is not None and token_env is not None:
        raise click.UsageError("Give --token or --token-env, not both.")
    if token_env is None:
        return token
    value = os.environ.get(token_env, "").strip()
    if not value:
        fail(f"environment variable {token_env} (from --token-env) is not set or empty")
    return value


@datasource_group.command("add")
@click.argument("name", required=False)
@click.option(
    "--from-json",
    "from_json",
    metavar="FILE",
    help="Add the Coco datasource payload (or a list of them) in FILE; - reads stdin.",
)
@click.option(
    "--endpoint", metavar="URL", help="Jira site URL, e.g. https://your-domain.atlassian.net."
)
@click.option("--project", metavar="KEY", help="Key of the project to index, e.g. PROJ.")
@click.option("--username", metavar="EMAIL", help="Account e-mail (Jira Cloud basic auth).")
@click.option(
    "--token-env",
    "token_env",
    metavar="VAR",
    help="Read the API token or personal access token from environment variable VAR (preferred).",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="The token itself. Avoid: command lines end up in shell history; use --token-env.",
)
@click.option(
    "--cloud-id",
    "cloud_id",
    metavar="ID",
    help="Site cloud id, for a service account (calls go through api.atlassian.com).",
)
@click.option("--jql", metavar="JQL", help="Extra JQL that narrows the project's issues.")
@click.option("--comments/--no-comments", default=False, show_default=True, help="Index comments.")
@click.option(
    "--attachments/--no-attachments",
    default=False,
    show_default=True,
    help="Index attachment text.",
)
@click.option(
    "--interval",
    default=config.DEFAULT_INTERVAL,
    show_default=True,
    help="Sync interval: 30s, 5m, 1h, 1d or 1h30m.",
)
@click.option(
    "--max-concurrency",
    "max_concurrency",
    type=int,
    metavar="N",
    help="Most requests in flight while syncing (1-32; default 6, halves on HTTP 429).",
)
@click.option("--disabled", is_flag=True, help="Add it disabled (not synced until enabled).")
@click.pass_context
def datasource_add(
    ctx: click.Context,
    name: str | None,
    from_json: str | None,
    endpoint: str | None,
    project: str | None,
    username: str | None,
    token_env: str | None,
    token: str | None,
    cloud_id: str | None,
    jql: str | None,
    comments: bool,
    attachments: bool,
    interval: str,
    max_concurrency: int | None,
    disabled: bool,
) -> None:
    """Add a datasource: NAME with options, or --from-json FILE.

    Without a token (and without --username) the project is read anonymously. With
    --username, a token is required (Jira Cloud e-mail + API token); a token alone is
    a Data Center personal access token. The token is stored in the config file with
    mode 0600.
    """
    option_names = (
        "endpoint",
        "project",
        "username",
        "token_env",
        "token",
        "cloud_id",
        "jql",
        "comments",
        "attachments",
        "interval",
        "max_concurrency",
        "disabled",
    )
    if from_json is not None:
        extra = _explicit(ctx, *option_names)
        if name is not None or extra:
            given = ", ".join(f"--{item.replace('_', '-')}" for item in extra) or "NAME"
            raise click.UsageError(f"--from-json takes no NAME or other options (got {given})")
        source = "stdin" if from_json == "-" else from_json
        warnings: list[str] = []  # said only when the datasources are added
        items = config.datasources_from_json_text(
            _read_json_argument(from_json), source, warn=warnings.append
        )
        added = config.add_datasources(items)
        for message in warnings:
            _warn(message)
        for ds in added:
            click.echo(f'Added datasource "{ds.name}": {_describe_datasource(ds)}')
        _warn_same_issues(added)
        return
    if name is None:
        raise click.UsageError("Missing argument NAME (or use --from-json FILE).")
    missing = [
        flag for flag, value in (("--endpoint", endpoint), ("--project", project)) if not value
    ]
    if missing:
        raise click.UsageError(f"Missing option {' and '.join(missing)}.")
    token = _token_option(token, token_env)
    if username and not token and sys.stdin.isatty():
        token = (
            click.prompt(
                f"API token for {username}", hide_input=True, default="", show_default=False
            )
            or None
        )
    ds = config.Datasource(
        name=name,
        endpoint=endpoint or "",
        project_key=project or "",
        username=username,
        token=token,
        cloud_id=cloud_id,
        jql=jql,
        index_comments=comments,
        index_attachments=attachments,
        interval=interval,
        max_concurrency=max_concurrency,
        enabled=not disabled,
    )
    added = config.add_datasource(ds)
    click.echo(f'Added datasource "{added.name}": {_describe_datasource(added)}')
    _warn_same_issues([added])


def _warn_same_issues(added: list) -> None:
    """A second datasource for the same project doubles every search hit."""
    items = config.load_datasources()
    for ds in added:
        for line in config.same_issues_warnings(ds, items):
            _warn(f"{line}; remove one with `jiradex datasource remove NAME`")


@datasource_group.command("set")
@click.argument("name", shell_complete=_complete_datasource)
@click.option("--comments/--no-comments", default=None, help="Index comments (or stop).")
@click.option(
    "--attachments/--no-attachments", default=None, help="Index attachment text (or stop)."
)
@click.option("--interval", metavar="INTERVAL", help="Sync interval: 30s, 5m, 1h, 1d or 1h30m.")
@click.option(
    "--jql", metavar="JQL", help="Extra JQL that narrows the project's issues; '' clears."
)
@click.option(
    "--max-concurrency",
    "max_concurrency",
    type=int,
    metavar="N",
    help="Most requests in flight while syncing (1-32).",
)
@click.option("--token-env", "token_env", metavar="VAR", help="Read a new token from VAR.")
@click.option("--token", metavar="TOKEN", help="A new token (avoid: shell history).")
def datasource_set(
    name: str,
    comments: bool | None,
    attachments: bool | None,
    interval: str | None,
    jql: str | None,
    max_concurrency: int | None,
    token_env: str | None,
    token: str | None,
) -> None:
    """Change settings of datasource NAME, keeping its indexed issues.

    Comments or attachments turned on are fetched for every issue on the next sync;
    turned off, they are removed from the index on the next sync. A new --jql
    changes the scope: the next sync starts over and reconciles the rest away.
    """
    token = _token_option(token, token_env)
    changes: dict[str, Any] = {}
    for field_name, value in (
        ("index_comments", comments),
        ("index_attachments", attachments),
        ("interval", interval),
        ("max_concurrency", max_concurrency),
        ("token", token),
    ):
        if value is not None:
            changes[field_name] = value
    if jql is not None:
        changes["jql"] = jql or None
    if not changes:
        raise click.UsageError(
            "Nothing to change: give --comments/--no-comments, --attachments/--no-attachments, "
            "--interval, --jql, --max-concurrency, --token-env or --token."
        )
    current = config.get_datasource(name)
    updated = config.update_datasource(dataclasses.replace(current, **changes))
    click.echo(f'Updated datasource "{updated.name}": {_describe_datasource(updated)}')


@datasource_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the Coco payloads (tokens masked).")
def datasource_list(as_json: bool) -> None:
    """List the datasources."""
    items = config.load_datasources()
    if as_json:
        emit_json([ds.to_coco(mask_token=True) for ds in items])
        return
    if not items:
        click.echo(
            "No datasources yet. Add one with: jiradex datasource add NAME "
            "--endpoint URL --project KEY",
            err=True,
        )
        return
    last = _last_runs([ds.name for ds in items])
    rows = [("NAME", "ENABLED", "PROJECT", "AUTH", "SYNC", "LAST SYNC", "ENDPOINT")]
    for ds in items:
        sync = ds.interval if ds.sync_enabled else "off"
        rows.append(
            (ds.name, _yes_no(ds.enabled), ds.project_key, ds.auth_mode, sync,
             _last_sync_cell(last.get(ds.name)), ds.endpoint)
        )  # fmt: skip
    # Widths in terminal columns: a name in Chinese takes two per character.
    widths = [max(_cells(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [
            cell + " " * (width - _cells(cell)) for cell, width in zip(row, widths, strict=False)
        ]
        click.echo("  ".join([*cells, row[-1]]))


@datasource_group.command("show")
@click.argument("name", shell_complete=_complete_datasource)
@click.option("--json", "as_json", is_flag=True, help="Print the Coco payload (token masked).")
def datasource_show(name: str, as_json: bool) -> None:
    """Show one datasource (the token is masked)."""
    ds = config.get_datasource(name)
    if as_json:
        emit_json(ds.to_coco(mask_token=True))
        return
    auth = ds.auth_mode
    if ds.username:
        auth += f" (username {ds.username})"
    lines = [
        ("name", ds.name),
        ("enabled", _yes_no(ds.enabled)),
        ("connector", ds.connector_id),
        ("endpoint", ds.endpoint),
        ("project", ds.project_key),
        ("auth", auth),
        ("token", ds.token_masked or "-"),
        ("cloud id", ds.cloud_id or "-"),
        ("jql", ds.jql or "-"),
        ("comments", _yes_no(ds.index_comments)),
        ("attachments", _attachments_line(ds)),
        ("requests", _requests_line(ds)),
        ("sync", f"every {ds.interval}" + ("" if ds.sync_enabled else " (scheduled sync off)")),
    ]
    for label, value in lines:
        click.echo(f"{label:<12} {value}")
    runs = _recent_runs(ds.name)
    if runs is None:
        return
    if not runs:
        click.echo(f"{'last syncs':<12} none yet (run `jiradex sync {ds.name}`)")
        return
    click.echo("last syncs")
    for run in runs:
        seconds = f" in {run['seconds']:.1f}s" if run.get("seconds") is not None else ""
        counts = (
            f"{counted(run.get('issues'), 'issue')}, {counted(run.get('comments'), 'comment')}, "
            f"{counted(run.get('attachments'), 'attachment')}, {run.get('deleted') or 0} deleted"
        )
        started = shown_time(run.get("started")) or "-"
        line = f"  {started}  {run.get('status') or '-'}: {counts}{seconds}"
        if run.get("error"):
            line += f": {' '.join(str(run['error']).split())}"
        click.echo(terminal_safe(secrets.redact(line)))


def _attachments_line(ds: config.Datasource) -> str:
    """Whether attachment text is indexed, and the size above which files are skipped."""
    from indexer.issue_view import human_size
    from indexer.jira.downloads import DEFAULT_ATTACHMENT_MAX_BYTES

    if not ds.index_attachments:
        return "no"
    limit = ds.attachment_max_bytes
    default = " (default)" if limit is None else ""
    return f"yes, files up to {human_size(limit or DEFAULT_ATTACHMENT_MAX_BYTES)}{default}"


def _requests_line(ds: config.Datasource) -> str:
    """`max_concurrency`, which `datasource set` changes, else the client's default."""
    if ds.max_concurrency is None:
        return f"at most {config.DEFAULT_MAX_CONCURRENCY} at once while syncing (default)"
    return f"at most {ds.max_concurrency} at once while syncing"


def _last_runs(names: list[str]) -> dict[str, dict]:
    """Each datasource's last sync run, by name ({} when there is no index yet or it
    cannot be read: the list still shows the configuration)."""
    if not paths.index_path().exists():
        return {}
    from indexer.store import Store
    from indexer.sync import recent_runs

    try:
        with Store() as store:
            return {n: runs[0] for n in names if (runs := recent_runs(store, n, limit=1))}
    except JiradexError as exc:
        _warn(f"cannot read the sync history: {exc}")
        return {}


def _last_sync_cell(run: dict | None) -> str:
    """`ok 2024-05-02 09:12 CEST`, `error 2024-05-02 09:17 CEST`, or `never`."""
    if run is None:
        return "never"
    return f"{run.get('status') or '?'} {shown_time(run.get('started')) or '?'}"


def _recent_runs(name: str, limit: int = 5) -> list[dict] | None:
    """The datasource's last sync runs, or None when there is no index (never creates one)."""
    if not paths.index_path().exists():
        return None
    from indexer.store import Store

    try:
        store = Store()
    except JiradexError as exc:
        _warn(f"cannot read the sync history: {exc}")
        return None
    try:
        from indexer.sync import recent_runs

        return recent_runs(store, name, limit=limit)
    except JiradexError as exc:
        _warn(f"cannot read the sync history: {exc}")
        return None
    finally:
        store.close()


@datasource_group.command("remove")
@click.argument("name", shell_complete=_complete_datasource)
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--keep-issues", is_flag=True, help="Keep its issues in the index (searchable, not synced)."
)
def datasource_remove(name: str, assume_yes: bool, keep_issues: bool) -> None:
    """Remove a datasource from the configuration, and its issues from the index."""
    ds = config.get_datasource(name)
    if not assume_yes and sys.stdin.isatty():
        what = "" if keep_issues else " and its indexed issues"
        click.confirm(
            f'Remove datasource "{ds.name}" ({ds.project_key} on {ds.endpoint}){what}?',
            abort=True,
        )
    from indexer.locks import SyncBusy
    from indexer.removal import IssuesNotRemoved, remove_datasource

    try:
        removed, forgotten = remove_datasource(ds.name, with_issues=not keep_issues)
    except IssuesNotRemoved as exc:
        fail(f"{exc} (--keep-issues removes the datasource alone)")
    except SyncBusy:
        fail(f'a sync of "{ds.name}" is running: let it finish (or stop it), then remove it')
    if forgotten is None:
        click.echo(f'Removed datasource "{removed.name}".')
    else:
        click.echo(
            f'Removed datasource "{removed.name}" and its '
            f"{counted(forgotten, 'indexed issue', grouped=True)}."
        )


@datasource_group.command("enable")
@click.argument("name", shell_complete=_complete_datasource)
def datasource_enable(name: str) -> None:
    """Enable a datasource (it is synced again)."""
    ds = config.set_datasource_enabled(name, True)
    click.echo(f'Enabled datasource "{ds.name}".')


@datasource_group.command("disable")
@click.argument("name", shell_complete=_complete_datasource)
def datasource_disable(name: str) -> None:
    """Disable a datasource (kept, but not synced)."""
    ds = config.set_datasource_enabled(name, False)
    click.echo(f'Disabled datasource "{ds.name}".')


@datasource_group.command("test")
@click.argument("name", shell_complete=_complete_datasource)
@click.option("--json", "as_json", is_flag=True, help="Print the test result as JSON.")
def datasource_test(name: str, as_json: bool) -> None:
    """Check a datasource's credentials: who you are, the deployment, project visibility
    and, when it has one, that Jira takes its JQL.

    Exits 1 with one line on stderr when Jira cannot be reached, refuses the
    credentials or the JQL, or the project is not visible to this account.
    """
    from indexer.jira import client_for_datasource

    ds = config.get_datasource(name)
    with client_for_datasource(ds, interactive=True) as client:
        report = _connection_report(client, ds.project_key)
        if ds.jql and (report.get("project") or {}).get("visible"):
            report["jql"] = _jql_report(client, ds)
    report = {"datasource": ds.name, **report}
    _print_connection_report(report, as_json)


def _jql_report(client, ds: config.Datasource) -> dict:
    """Whether Jira takes the datasource's JQL (as the sync sends it), and how many
    issues it selects; a JQL Jira refuses would otherwise fail only the first sync."""
    from indexer.jira.errors import JiraBadRequestError

    try:
        issues = client.count(f'project = "{ds.project_key}" AND ({ds.jql})')
    except JiraBadRequestError as exc:
        return {"jql": ds.jql, "valid": False, "error": str(exc)}
    return {"jql": ds.jql, "valid": True, "issues": issues, "approximate": client.is_cloud}


# Connection tests shared by `datasource test` and `jira test`.

_DEPLOYMENT_NAMES = {"cloud": "Cloud", "datacenter": "Data Center", "server": "Server"}


def _connection_report(client, project_key: str | None) -> dict:
    """`client.test_connection()` plus the deployment as Jira names it."""
    report = client.test_connection(project_key)
    if client.auth.cloud_id:
        kind, version = "Cloud", None
    else:
        info = client.server_info()
        raw = str(info.get("deploymentType") or "").replace(" ", "").lower()
        kind = _DEPLOYMENT_NAMES.get(raw) or (
            "Cloud" if client.is_cloud else "Data Center or Server"
        )
        version = None if kind == "Cloud" else info.get("version")
    report["deployment_type"] = kind
    report["server_version"] = version
    return report


def _print_connection_report(report: dict, as_json: bool) -> None:
    """Print what the test found; exit 1 when the project is not visible or Jira
    refuses the datasource's JQL."""
    project, jql = report.get("project"), report.get("jql")
    if as_json:
        emit_json(report)
    else:
        site = report["site"]
        if report.get("api_base") and report["api_base"] != site:
            site += f" (API calls through {report['api_base']})"
        account = report.get("account") or {}
        if report.get("auth_mode") == "anonymous":
            who = "nobody: anonymous access"
        else:
            who = str(report.get("user") or "unknown")
            email = account.get("emailAddress")
            if email and email != who:
                who += f" <{email}>"
        deployment = f"Jira {report['deployment_type']}"
        if report.get("server_version"):
            deployment += f" {report['server_version']}"
        deployment += f", {report['api_mode']}"
        rows = [("site", site), ("signed in as", who), ("deployment", deployment)]
        if project is not None:
            title = (
                f"{project['key']} ({project['name']})" if project.get("name") else project["key"]
            )
            state = "visible" if project.get("visible") else "NOT visible"
            rows.append(("project", f"{title}: {state}"))
        if jql is not None:
            if jql["valid"]:
                about = "about " if jql.get("approximate") else ""
                rows.append(
                    ("jql", f"{jql['jql']}: {about}{counted(jql['issues'], 'issue', grouped=True)}")
                )
            else:
                rows.append(("jql", f"{jql['jql']}: REFUSED by Jira"))
        for label, value in rows:
            click.echo(f"{label:<13} {terminal_safe(secrets.redact(value))}")
    if project is not None and not project.get("visible"):
        fail(project.get("error") or f"project {project['key']} is not visible")
    if jql is not None and not jql["valid"]:
        fail(f"the datasource's jql: {jql['error']}")


@cli.group("connector")
def connector_group() -> None:
    """Connectors datasources can use (Coco's connector metadata)."""


@connector_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the connector metadata as JSON.")
def connector_list(as_json: bool) -> None:
    """List the registered connectors."""
    items = connectors.list_connectors()
    if as_json:
        emit_json(items)
        return
    for item in items:
        click.echo(f"{item['id']:<8} {item['name']} ({item['category']}): {item['description']}")


@connector_group.command("show")
@click.argument("connector_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the connector metadata as JSON.")
def connector_show(connector_id: str, as_json: bool) -> None:
    """Show a connector and its datasource settings."""
    item = connectors.get_connector(connector_id)
    if as_json:
        emit_json(item)
        return
    click.echo(f"{item['name']} ({item['id']}): {item['description']}")
    click.echo(f"category: {item['category']}; tags: {', '.join(item['tags'])}; {item['url']}")
    click.echo("settings (connector.config):")
    for key, spec in item["config"].items():
        flags = "required" if spec.get("required") else "optional"
        if "default" in spec:
            flags += f", default {json.dumps(spec['default'])}"
        click.echo(f"  {key:<21} {spec['type']}, {flags}: {spec['description']}")


@cli.group("jira")
def jira_group() -> None:
    """The global Jira connection (jira.json and JIRA_* variables) for tasks and post-back."""


@jira_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def jira_status(as_json: bool) -> None:
    """Show the global connection and where each value comes from (token masked)."""
    conn = config.load_jira_connection()
    status = conn.status()
    status["warnings"] = config.exposed_token_warnings()
    if as_json:
        emit_json(status)
        return
    _warn_exposed_tokens(status["warnings"])

    def source(key: str) -> str:
        origin = status["sources"].get(key)
        if origin == "env":
            return f"  [env {config.JIRA_ENV[key]}]"
        return f"  [{origin}]" if origin else ""

    state = "configured" if conn.configured else "not configured"
    click.echo(f"Jira connection: {state}")
    rows = [
        ("site URL", conn.base_url or "-", "base_url"),
        ("cloud id", conn.cloud_id or "-", "cloud_id"),
        ("API mode", conn.api_mode.replace("_", " "), "cloud_id"),
        ("e-mail", conn.email or "-", "email"),
        ("token", status["token"] or "-", "api_token"),
        ("enabled", _yes_no(conn.enabled), "enabled"),
    ]
    for label, value, key in rows:
        click.echo(f"  {label:<9} {value}{source(key) if label != 'API mode' else ''}")
    if conn.configured:
        click.echo(f"  {'API URL':<9} {status['api_url']}")
    click.echo(f"  {'file':<9} {status['config_file']}")
    for problem in status["problems"]:
        click.echo(f"  missing: {problem}")


API_TOKEN_PAGE = "https://id.atlassian.com/manage-profile/security/api-tokens"
SERVICE_ACCOUNT_PAGE = "https://admin.atlassian.com"  # Directory > Service accounts
# Data Center / Server 8.14+: Profile > Personal Access Tokens, under the site URL.
PAT_PAGE = (
    "/secure/ViewProfile.jspa?selectedTab=com.atlassian.pats.pats-plugin:"
    "jira-user-personal-access-tokens"
)


def _open_in_browser(url: str) -> bool:
    """Open a page for the user; False when no browser could be started."""
    import webbrowser

    try:
        return bool(webbrowser.open(url, new=2))
    except Exception:  # a broken browser set-up must not stop the wizard
        return False


def _account_kind(value: str) -> str:
    """The wizard's account type. Unlike click.Choice, a wrong answer is not echoed
    back: answers typed one prompt early put the token here."""
    kind = str(value or "").strip().lower()
    if kind not in ("personal", "service", "pat"):
        raise click.UsageError("answer personal, service or pat")
    return kind


def _checked(validate):
    """A click prompt `value_proc` that re-asks with the validator's message."""

    def proc(value: str):
        try:
            return validate(value)
        except JiradexError as exc:
            raise click.UsageError(str(exc)) from None

    return proc


def _non_empty(what: str):
    def validate(value: str) -> str:
        if not str(value or "").strip():
            raise JiradexError(f"{what} must not be empty")
        return str(value).strip()

    return validate


def _email(what: str):
    """A non-empty account e-mail, checked as jira.json will check it on save."""

    def validate(value: str) -> str:
        return config.validate_email(_non_empty(what)(value), what)

    return validate


@jira_group.command("connect")
@click.option(
    "--site", metavar="URL", help="Jira site URL, e.g. https://your-domain.atlassian.net."
)
@click.option("--email", metavar="EMAIL", help="Account e-mail (the service account's for one).")
@click.option("--token-stdin", is_flag=True, help="Read the API token from stdin (no prompts).")
@click.option(
    "--token-env", metavar="VAR", help="Read the API token from environment variable VAR."
)
@click.option("--cloud-id", "cloud_id", metavar="ID", help="Site cloud id (service accounts).")
@click.option(
    "--service-account",
    is_flag=True,
    help="A service account: calls go through the Atlassian gateway with the site's cloud id "
    "(fetched from {site}/_edge/tenant_info unless --cloud-id is given).",
)
@click.option(
    "--pat",
    "--personal-access-token",
    "pat",
    is_flag=True,
    help="Jira Data Center / Server with a personal access token: no e-mail, the token is "
    "sent as Authorization: Bearer.",
)
@click.option("--no-test", is_flag=True, help="Save without testing the connection first.")
@click.option(
    "--yes",
    "-y",
    "assume_yes",
    is_flag=True,
    help="Never prompt: missing values are errors and a failed test saves nothing.",
)
def jira_connect(
    site: str | None,
    email: str | None,
    token_stdin: bool,
    token_env: str | None,
    cloud_id: str | None,
    service_account: bool,
    pat: bool,
    no_test: bool,
    assume_yes: bool,
) -> None:
    """Set up the global Jira connection (jira.json), testing it before saving.

    Asks for what the options do not give: the account type, the site URL, the cloud
    id (service accounts; fetched from the site when it can be), the e-mail (not for a
    Data Center personal access token) and the token (hidden input). With --yes or
    --token-stdin it never prompts.
    """
    from indexer.jira import client_for_connection, fetch_cloud_id

    if token_stdin and token_env:
        raise click.UsageError("Give --token-stdin or --token-env, not both.")
    if pat and (service_account or cloud_id or email is not None):
        raise click.UsageError(
            "--pat takes no --email, --service-account or --cloud-id "
            "(a personal access token is sent alone, as Bearer)."
        )
    interactive = not (assume_yes or token_stdin)
    # A corrupt jira.json stops us before any question (it is never overwritten).
    saved = config.load_jira_connection(use_env=False)

    service = service_account or bool(cloud_id)
    # Flags for site, e-mail and token mean "no wizard": personal unless said otherwise.
    given_all = site is not None and (email is not None or pat) and token_env is not None
    if interactive and not service and not pat and not given_all:
        kind = click.prompt(
            "Account type (personal: your own Atlassian account; service: a service account; "
            "pat: Data Center / Server (personal access token)) (personal, service, pat)",
            default={"service_account": "service", "personal_access_token": "pat"}.get(
                saved.api_mode, "personal"
            ),
            value_proc=_account_kind,
        )
        service, pat = kind == "service", kind == "pat"

    if site is not None:
        site = config.validate_endpoint(site, "--site")
    elif interactive:
        site = click.prompt(
            "Jira site URL", default=saved.base_url, value_proc=_checked(config.validate_endpoint)
        )
    else:
        raise click.UsageError("Missing option --site (required with --yes or --token-stdin).")

    if service:
        if cloud_id is None:
            fetched = None
            try:
                fetched = fetch_cloud_id(site)
            except JiradexError as exc:
                if not interactive or given_all:
                    fail(f"{exc} (or pass --cloud-id ID)")
                click.echo(f"Could not fetch the cloud id: {terminal_safe(str(exc))}", err=True)
            if fetched and interactive:
                click.echo(f"Found the site's cloud id: {fetched}")
            if interactive and not given_all:
                cloud_id = click.prompt(
                    "Cloud id",
                    default=fetched or saved.cloud_id,
                    value_proc=_checked(config.validate_cloud_id),
                )
            elif fetched or not interactive:
                cloud_id = fetched
            else:
                fail("could not fetch the site's cloud id: pass --cloud-id ID")
        cloud_id = config.validate_cloud_id(cloud_id, "--cloud-id")
    else:
        cloud_id = None

    what = "Service account e-mail" if service else "Atlassian account e-mail"
    if pat:
        email = None  # token alone: Authorization: Bearer
    elif email is not None:
        email = _email("--email")(email)
    elif interactive:
        email = click.prompt(what, default=saved.email, value_proc=_checked(_email(what)))
    else:
        raise click.UsageError(
            "Missing option --email (required with --yes or --token-stdin; "
            "or --pat for a Data Center personal access token)."
        )
    kind_of_token = "personal access token" if pat else "API token"

    if token_env:
        token = os.environ.get(token_env, "").strip()
        if not token:
            fail(f"environment variable {token_env} (from --token-env) is not set or empty")
    elif token_stdin:
        token = sys.stdin.read().strip()
        if not token:
            fail(f"no {kind_of_token} on stdin (--token-stdin)")
    elif interactive:
        if pat:
            page = f"{site}{PAT_PAGE}"
            click.echo(
                f"Create a personal access token in Jira (Profile > Personal Access Tokens): {page}"
            )
        else:
            page = SERVICE_ACCOUNT_PAGE if service else API_TOKEN_PAGE
            where = "Directory > Service accounts" if service else "your Atlassian account"
            click.echo(f"Create an API token in {where}: {page}")
        wanted = click.confirm("Open that page in your browser?", default=False)
        if wanted and not _open_in_browser(page):
            click.echo(f"Could not start a browser; open {page} yourself.", err=True)
        token = click.prompt(
            f"{kind_of_token[0].upper()}{kind_of_token[1:]} (input hidden)", hide_input=True
        )
    else:
        raise click.UsageError("Missing token: give --token-env VAR or --token-stdin.")
    secrets.register(token)
    token = config.validate_token(token, kind_of_token)
    if not token:
        fail(f"the {kind_of_token} is empty")

    conn = config.JiraConnection(
        enabled=True, base_url=site, cloud_id=cloud_id, email=email, api_token=token
    )
    if not no_test:
        try:
            with client_for_connection(conn, interactive=True) as client:
                report = _connection_report(client, None)
        except JiradexError as exc:
            if not interactive or given_all:  # flags for everything: no question either
                fail(f"connection test failed, nothing saved: {exc}")
            line = terminal_safe(secrets.redact(str(exc)))
            click.echo(f"jiradex: connection test failed: {line}", err=True)
            if not click.confirm("Save the connection anyway?", default=False):
                fail("nothing saved")
        else:
            _print_connection_report(report, False)

    config.save_jira_connection(conn)
    click.echo(f"Saved the Jira connection to {paths.jira_config_path()} (readable only by you).")
    overrides = config.jira_env_overrides()
    if len(overrides) == 1:
        _warn(
            f"{overrides[0]} is set in the environment and overrides the value saved: "
            "unset it to use the saved one"
        )
    elif overrides:
        _warn(
            f"{', '.join(overrides)} are set in the environment and override the values "
            "saved: unset them to use the saved ones"
        )


@jira_group.command("test")
@click.option("--project", metavar="KEY", help="Also check that this project is visible.")
@click.option("--json", "as_json", is_flag=True, help="Print the test result as JSON.")
def jira_test(project: str | None, as_json: bool) -> None:
    """Check the global connection: who you are, the deployment, project visibility.

    Exits 1 with one line on stderr when the connection is not set up, Jira cannot be
    reached, refuses the credentials, or the project is not visible.
    """
    from indexer.jira import client_for_connection

    if project is not None:
        project = config.validate_project_key(project)
    conn = config.load_jira_connection()
    _warn_exposed_tokens()
    if conn.switched_off():  # not "run jira connect": there is one, and it is off
        fail(conn.switched_off())
    if conn.enabled and conn.problems():  # enabled, say by JIRA_ENABLED, yet no site
        missing = "; ".join(conn.problems())
        fail(f"the Jira connection is incomplete: {missing}; run `jiradex jira connect`")
    with client_for_connection(conn, interactive=True) as client:
        report = _connection_report(client, project)
    _print_connection_report(report, as_json)


@jira_group.command("disconnect")
def jira_disconnect() -> None:
    """Forget the saved connection (deletes jira.json; JIRA_* variables still apply)."""
    path = paths.jira_config_path()
    if config.clear_jira_connection():
        click.echo(f"Removed {path}.")
    else:
        click.echo(f"No saved Jira connection ({path} does not exist).")
    in_use = config.jira_env_in_use()
    if in_use:
        click.echo(
            f"Note: {', '.join(in_use)} still set in the environment and still apply.", err=True
        )


# ======================================================================= end config


# --------------------------------------------------------------------------- task (tasks helper)
# `jiradex task ...`: thin calls into indexer.tasks; messages and rules live there.


@cli.group("task")
def task_group() -> None:
    """Turn Jira issues into tasks, and post their results back as comments."""


@task_group.command("import")
@click.argument("key", shell_complete=_complete_key)
@click.option("--comments", is_flag=True, help="Include the issue's comments.")
@click.option("--instructions", "extra", metavar="TEXT", help="Extra instructions, appended last.")
@click.option("--objective", is_flag=True, help="Record a larger piece of work (an objective).")
@click.option(
    "--datasource",
    metavar="NAME",
    shell_complete=_complete_datasource,
    help="The copy in this datasource's index (of a key several hold).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def task_import_command(
    key: str,
    comments: bool,
    extra: str | None,
    objective: bool,
    datasource: str | None,
    as_json: bool,
) -> None:
    """Make a task from issue KEY (from the index, or live from Jira)."""
    from indexer import tasks

    outcome = tasks.import_task(
        key, comments=comments, instructions=extra, objective=objective, datasource=datasource
    )
    for note in outcome.notes:
        click.echo(terminal_safe(note), err=True)
    task = outcome.task
    if as_json:
        emit_json(outcome.to_json())
    else:
        click.echo(terminal_safe(f"Created {task.kind} {task.label}: {task.title}"))
        click.echo(terminal_safe(task.link.url))


@task_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
def task_list_command(as_json: bool) -> None:
    """List the tasks."""
    from indexer import tasks

    items = tasks.TaskStore().list()
    if as_json:
        emit_json([task.to_json() for task in items])
        return
    if not items:
        click.echo("No tasks yet: `jiradex task import KEY` makes one.", err=True)
        return
    for task in items:
        click.echo(terminal_safe(f"{task.label:<6} {task.kind:<9} {task.state:<8} {task.title}"))


@task_group.command("show")
@click.argument("task_id", shell_complete=_complete_task)
@click.option(
    "--markdown", "as_markdown", is_flag=True, help="Only the instructions, as given to an agent."
)
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def task_show_command(task_id: str, as_markdown: bool, as_json: bool) -> None:
    """Show task TASK_ID (12 or T-12)."""
    from indexer import tasks

    if as_markdown and as_json:
        raise click.UsageError("--markdown and --json cannot be used together")
    task = tasks.TaskStore().get(task_id)
    if as_markdown:
        click.echo(terminal_safe(task.instructions), nl=False)
    elif as_json:
        emit_json(task.to_json())
    else:
        click.echo(terminal_safe(tasks.describe(task)), nl=False)


@task_group.command("result")
@click.argument("task_id", shell_complete=_complete_task)
@click.argument("source", metavar="FILE_OR_DASH")
@click.option("--json", "as_json", is_flag=True, help="Print the updated task as JSON.")
def task_result_command(task_id: str, source: str, as_json: bool) -> None:
    """Store the Markdown result of a task, from FILE or `-` (stdin)."""
    from indexer import tasks

    store = tasks.TaskStore()
    store.get(task_id)  # a bad id fails before reading stdin
    if source == "-" and sys.stdin.isatty():
        click.echo("Reading the result from stdin; end it with Ctrl-D.", err=True)
    stdin = getattr(sys.stdin, "buffer", sys.stdin)  # bytes: decoded as the file would be
    text = tasks.read_result_text(source, stdin.read)
    task = store.set_result(task_id, text)
    click.echo(f"Stored the result of {task.label} ({len(text)} characters).", err=True)
    if as_json:
        emit_json(task.to_json())


@task_group.command("post")
@click.argument("task_id", shell_complete=_complete_task)
@click.option("--force", is_flag=True, help="Post again even if it was posted before.")
@click.option("--json", "as_json", is_flag=True, help="Print the comment as JSON.")
def task_post_command(task_id: str, force: bool, as_json: bool) -> None:
    """Post the task's result as a comment on its Jira issue."""
    from indexer import tasks

    outcome = tasks.post_task(task_id, force=force)
    click.echo(terminal_safe(outcome.account_line), err=True)
    if as_json:
        if outcome.found:  # stdout is the JSON: say it on stderr that nothing was posted
            click.echo(terminal_safe(outcome.done_line), err=True)
        emit_json(outcome.to_json())
    else:
        click.echo(terminal_safe(outcome.done_line))


@task_group.command("unlink")
@click.argument("task_id", shell_complete=_complete_task)
@click.option("--json", "as_json", is_flag=True, help="Print the unlinked task as JSON.")
def task_unlink_command(task_id: str, as_json: bool) -> None:
    """Detach a task from its issue: it can no longer be posted."""
    from indexer import tasks

    task = tasks.TaskStore().unlink(task_id)
    if as_json:
        emit_json(task.to_json())
    else:
        click.echo(f"Unlinked {task.label} from {task.link.key}.")


# --------------------------------------------------------------------------- end of task section

# --------------------------------------------------------------------------- search and show (search helper)
# `jiradex search` and `jiradex show`: thin calls into indexer.search / indexer.issue_view.
# Imports stay inside the commands so a search process starts fast.


def _open_index_for_reading():
    """The index, or a clear error when nothing has been synced yet (never creates one)."""
    from indexer.store import Store

    if not paths.index_path().exists():
        fail("there is no index yet: add a datasource and run `jiradex sync`")
    return Store()


def _cells(text: str) -> int:
    """Terminal columns of `text`: wide (CJK) and full-width characters take two."""
    import unicodedata

    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def _cut(text: str, width: int) -> str:
    """`text` cut with … to at most `width` columns."""
    if width <= 0:
        return ""
    if _cells(text) > width:
        while text and _cells(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text


def _fit(text: str, width: int) -> str:
    """`text` on one line, cut with … to at most `width` columns, padded to `width`."""
    text = _cut(" ".join(terminal_safe(text or "").split()), width)
    return text + " " * (max(0, width) - _cells(text))


def _styled_snippet(snippet: str, width: int) -> str:
    """A snippet cut to `width` terminal columns (CJK takes two), matched words in bold."""
    from indexer.search import split_highlights

    out: list[str] = []
    room = width
    for text, marked in split_highlights(" ".join(terminal_safe(snippet).split())):
        if room <= 0:
            break
        piece = _cut(text, room)
        room -= _cells(piece)
        out.append(click.style(piece, bold=True) if marked else piece)
    return "".join(out)


def _print_hits(hits: list) -> None:
    import shutil

    width = max(60, shutil.get_terminal_size((120, 24)).columns)
    key_w = max(3, max(len(h.key) for h in hits))
    status_w = min(14, max(6, max(_cells(h.status or "") for h in hits)))
    assignee_w = min(16, max(8, max(_cells(h.assignee or "") for h in hits)))
    date_w = 10
    # One issue indexed by two datasources (say the project on Cloud and on an old
    # Server) gives two identical rows: then a SOURCE column tells them apart.
    several = len({h.datasource for h in hits}) > 1
    source_w = min(16, max(6, max(_cells(h.datasource or "") for h in hits))) if several else 0
    taken = key_w + status_w + assignee_w + date_w + 8 + (source_w + 2 if several else 0)
    summary_w = max(20, width - taken)
    header = (
        f"{'KEY':<{key_w}}  {'SUMMARY':<{summary_w}}  {'STATUS':<{status_w}}  "
        f"{'ASSIGNEE':<{assignee_w}}  {'UPDATED':<{date_w}}"
    )
    if several:
        header += f"  {'SOURCE':<{source_w}}"
    click.echo(click.style(header.rstrip(), bold=True))
    for h in hits:
        row = (
            f"{h.key:<{key_w}}  {_fit(h.summary, summary_w)}  "
            f"{_fit(h.status or '', status_w)}  "
            f"{_fit(h.assignee or '-', assignee_w)}  {shown_day(h.updated):<{date_w}}"
        )
        if several:
            row += f"  {_fit(h.datasource or '', source_w)}"
        click.echo(row.rstrip())
        where = "" if h.matched == "issue" else f"[{h.attachment or h.matched}] "
        if h.snippet:
            room = width - key_w - 2 - _cells(where)
            click.echo(" " * (key_w + 2) + where + _styled_snippet(h.snippet, room))


class _SearchCommand(click.Command):
    """`search`, whose query may hold `-word` (exclude): typed unquoted, Click took it
    for options ("No such option '-t'"); the error now says how to write it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            word = next((a for a in given if _short_option_of(a) == exc.option_name), None)
            if word is None:
                raise
            query = " ".join(_query_words(given))
            raise click.UsageError(
                f"{word} is read as an option: to exclude a word, quote the whole query "
                f"(jiradex search '{query}') or put -- before it"
            ) from None


def _short_option_of(arg: str) -> str | None:
    """`-timeout` -> `-t`, as Click reads it; None for `--long` options and words."""
    return arg[:2] if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" else None


def _query_words(args: list[str]) -> list[str]:
    """The words of a search command line, its `--option value` pairs left out."""
    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("--"):
            skip = "=" not in arg and arg != "--json"
        else:
            words.append(arg)
    return words


@cli.command("search", cls=_SearchCommand)
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--datasource",
    metavar="NAME",
    shell_complete=_complete_datasource,
    help="Only issues of this datasource.",
)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Most results."
)
@click.option(
    "--sort",
    type=click.Choice(["relevance", "updated"]),
    default="relevance",
    show_default=True,
    help="Best match first, or most recently updated first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON array.")
def search_command(
    query: tuple[str, ...], datasource: str | None, limit: int, sort: str, as_json: bool
) -> None:
    """Search the local index (offline).

    Words are ANDed; "a phrase"; prefix*; OR; (...) groups; -word excludes; filters
    such as project:KEY status:"In Progress" assignee:NAME label:X type:Bug
    priority:High updated:>=2024-01-01 created:<2024-06-01 updated:-7d; a bare key
    (ABC-123) comes first. Put `--` before a query that starts with `-`. In --json
    output, matched words in "snippet" are wrapped in [[ and ]].
    """
    from indexer.errors import QueryError
    from indexer.search import search

    text = " ".join(query)
    store = _open_index_for_reading()
    try:
        if datasource:  # names are case-insensitive, as everywhere else
            names = {name.lower(): name for name in store.datasources()}
            names.update({ds.name.lower(): ds.name for ds in config.load_datasources()})
            if datasource.strip().lower() not in names:
                fail(f"unknown datasource {datasource!r} (see `jiradex datasource list`)")
            datasource = names[datasource.strip().lower()]
        try:
            hits = search(store, text, datasource=datasource, limit=limit, sort=sort)
        except QueryError as exc:
            click.echo(f"jiradex: {exc}", err=True)
            sys.exit(2)  # a usage error; ctx.exit(2) would be swallowed by main()
    finally:
        store.close()
    if as_json:
        emit_json([h.to_json() for h in hits])
    elif hits:
        _print_hits(hits)
    else:
        click.echo("No issues match.", err=True)


@cli.command("show")
@click.argument("key", shell_complete=_complete_key)
@click.option("--json", "as_json", is_flag=True, help="Print the issue as JSON.")
@click.option(
    "--datasource",
    "-d",
    "datasource",
    metavar="NAME",
    shell_complete=_complete_datasource,
    help="The copy of this datasource, when several index the issue.",
)
def show_command(key: str, as_json: bool, datasource: str | None) -> None:
    """Print one indexed issue (by key or Jira id) as Markdown, with its comments
    and attachments."""
    from indexer.issue_view import issue_json, issue_markdown

    if not (key.strip().isdigit() or config.ISSUE_KEY_RE.match(key.strip())):
        fail(f"Issue key must look like PROJECT-123 (or a numeric Jira id), not {key.strip()!r}")
    from indexer.store import copies_note, holder_named, not_held_message

    store = _open_index_for_reading()
    try:
        holders = store.holders(key)
        if datasource is not None:
            chosen = holder_named(holders, datasource)
            if chosen is None:
                fail(not_held_message(key.strip(), datasource, holders))
            datasource = chosen
        issue = store.get_issue(key, datasource)
    finally:
        store.close()
    if issue is None:
        fail(f"{key.strip()} is not in the index (check the key, or sync its datasource)")
    if datasource is None and len(holders) > 1:
        _warn(copies_note(key.strip(), holders, issue["datasource"], "showing"))
    if as_json:
        emit_json(issue_json(issue))
    else:
        click.echo(terminal_safe(issue_markdown(issue)), nl=False)


# --------------------------------------------------------------------------- end of search section


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print the script that makes SHELL complete jiradex with Tab.

    Commands and options, datasource names, task ids and the keys of indexed
    issues (with their summaries, where the shell shows them).

    \b
    bash:  eval "$(jiradex completion bash)"   (in ~/.bashrc; bash 4.4 or later)
    zsh:   eval "$(jiradex completion zsh)"    (in ~/.zshrc)
    fish:  jiradex completion fish > ~/.config/fish/completions/jiradex.fish
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)
    click.echo(script(cli, {}, "jiradex", "_JIRADEX_COMPLETE").source())


# --------------------------------------------------------------------------- entry


def _configure_logging() -> None:
    """The engine's log records stay out of the user's terminal (an error reaches
    them as one line, never as a logged traceback); JIRADEX_DEBUG=1 shows them."""
    import logging

    if os.environ.get("JIRADEX_DEBUG"):
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())
    # Opening an index from an older jiradex upgrades it (indexer.store): a pause the
    # user hears of, on stderr (the TUI shows it as a notification instead).
    upgrade = logging.getLogger("jiradex.upgrade")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("jiradex: %(message)s"))
    upgrade.handlers = [handler]
    upgrade.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: maps engine errors to one line on stderr and exit 1."""
    _configure_logging()
    if os.environ.get("_JIRADEX_COMPLETE", "").startswith("bash"):
        _use_own_bash_completion()
    try:
        # Without standalone mode, `ctx.exit(n)` comes back as a return value.
        code = cli.main(args=argv, prog_name="jiradex", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        reason = exc.__cause__ or exc.__context__
        if isinstance(reason, KeyboardInterrupt):
            click.echo("jiradex: interrupted", err=True)  # Click turns Ctrl-C into Abort
            sys.exit(130)
        if isinstance(reason, EOFError):
            click.echo("jiradex: aborted (no answer at a prompt)", err=True)
        else:  # "n" to a confirmation: the user's choice, nothing was done
            click.echo("jiradex: cancelled, nothing changed", err=True)
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError as exc:
        # `jiradex datasource` alone: the help is what was asked for, not an error line.
        click.echo(exc.format_message(), err=True)
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # One line, like every other error; the help is one command away.
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"jiradex: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except JiradexError as exc:
        click.echo(f"jiradex: {terminal_safe(secrets.redact(str(exc)))}", err=True)
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


if _sigint_before_import is not None:
    signal.signal(signal.SIGINT, _sigint_before_import)

if __name__ == "__main__":
    main()

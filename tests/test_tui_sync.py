"""Sync monitor: progress from thread workers, several datasources, errors, cancel.

The sync engine runs for real (indexer.sync against a real Store under the test's
JIRADEX_HOME); only the Jira client is an in-memory fake (tests/tui_fakes.py).
"""

from __future__ import annotations

import contextlib

from textual.widgets import ProgressBar, RichLog
from tui_fakes import FakeJiraClient, auth_error, run_async
from tui_helpers import add_datasource, wait_for

from indexer.store import Store
from tui.app import JiradexApp
from tui.screens.sync_monitor import SyncMonitorScreen
from tui.sync_controller import SyncController, format_duration, install_controller
from tui.widgets.sync_progress import SyncRow


def app_with(clients: dict[str, FakeJiraClient], **kwargs) -> JiradexApp:
    app = JiradexApp(**kwargs)
    install_controller(app, SyncController(app, client_factory=lambda ds: clients[ds.name]))
    return app


def log_text(screen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(RichLog).lines)


@run_async
async def test_start_sync_runs_two_datasources_and_returns_home():
    add_datasource("alpha", "ALPHA")
    add_datasource("beta", "BETA")
    clients = {
        "alpha": FakeJiraClient(250, project="ALPHA"),
        "beta": FakeJiraClient(120, project="BETA"),
    }
    app = app_with(clients, start_sync=["alpha", "beta"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.current_mode == "search")
        monitor = app.mode_screen("sync")
        assert isinstance(monitor, SyncMonitorScreen)
        rows = {row.job.name: row for row in monitor.query(SyncRow)}
        assert set(rows) == {"alpha", "beta"}
        assert rows["alpha"].job.summary.issues == 250
        assert rows["beta"].job.summary.issues == 120
        bar = rows["alpha"].query_one(ProgressBar)
        # The app goes home on its own message; the monitor's last progress and log
        # messages may land a moment later (two message queues), so wait for them,
        # boundedly: the bar can be full from the fetch before the "done" line is in.
        await wait_for(pilot, lambda: bar.total == 250 and bar.progress == 250)
        await wait_for(pilot, lambda: log_text(monitor).count(" done in ") == 2)
        text = log_text(monitor)
        assert "fetching 250 new or changed issues" in text
        assert "done in" in text
    with Store() as store:
        assert store.stats("alpha")["issues"] == 250
        assert store.stats("beta")["issues"] == 120
        assert store.runs("alpha")[0]["status"] == "ok"
    assert clients["alpha"].closed and clients["beta"].closed


@run_async
async def test_sync_error_is_shown_not_raised_and_other_sync_completes():
    add_datasource("good")
    add_datasource("bad")
    clients = {"good": FakeJiraClient(50), "bad": FakeJiraClient(fail=auth_error())}
    app = app_with(clients, start_sync=["good", "bad"])
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = app.mode_screen("sync")
        await wait_for(pilot, lambda: len(monitor.query(SyncRow)) == 2)
        await wait_for(pilot, lambda: all(not r.job.running for r in monitor.query(SyncRow)))
        await pilot.pause()
        rows = {row.job.name: row for row in monitor.query(SyncRow)}
        assert rows["bad"].job.status == "error"
        assert "refused the credentials" in rows["bad"].job.error
        assert rows["bad"].has_class("-error")
        assert "refused the credentials" in str(rows["bad"].query_one(".sync-error").render())
        assert rows["good"].job.status == "ok"
        # a failure keeps the monitor on screen so the message can be read
        assert app.current_mode == "sync"
        assert "error: Jira refused the credentials" in log_text(monitor)
        assert any("refused the credentials" in n.message for n in app._notifications)
        assert app.return_code is None  # the app is still running


@contextlib.asynccontextmanager
async def held_sync():
    """Datasource "slow" syncing on the monitor, held after its first 100 of 500
    issues (the fake client waits for `client.release`): (app, pilot, monitor, client)."""
    add_datasource("slow")
    client = FakeJiraClient(500, hold_after=100)
    app = app_with({"slow": client})
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_sync(["slow"])
        monitor = app.mode_screen("sync")
        await wait_for(pilot, client.held.is_set)
        yield app, pilot, monitor, client


@run_async
async def test_cancel_stops_between_batches_and_keeps_written_issues():
    async with held_sync() as (app, pilot, monitor, client):
        await pilot.press("c")
        client.release.set()
        await wait_for(pilot, lambda: not monitor.controller.jobs["slow"].running)
        await wait_for(pilot, lambda: "cancelled after" in log_text(monitor))
        job = monitor.controller.jobs["slow"]
        assert job.status == "cancelled"
        assert "cancel requested" in log_text(monitor)
        assert "cancelled after" in log_text(monitor)
    with Store() as store:
        stored = store.stats("slow")["issues"]
        assert 100 <= stored < 500


@run_async
async def test_a_cancelled_sync_says_cancelling_until_it_stops():
    """The card said "● running" for seconds after c; only the log told otherwise."""
    async with held_sync() as (app, pilot, monitor, client):
        (row,) = monitor.query(SyncRow)
        await wait_for(pilot, lambda: "running" in str(row.query_one(".sync-status").render()))
        await pilot.press("c")
        await pilot.pause()
        assert monitor.controller.jobs["slow"].running  # still in its batch
        assert "cancelling…" in str(row.query_one(".sync-status").render())
        app.go("datasources")
        sources = app.mode_screen("datasources")
        await wait_for(pilot, lambda: sources.loaded)
        assert str(sources._status(sources.rows[0])) == "cancelling…"
        client.release.set()
        await wait_for(pilot, lambda: not monitor.controller.jobs["slow"].running)
        await pilot.pause()
        assert "cancelled" in str(row.query_one(".sync-status").render())


@run_async
async def test_cancel_pressed_again_while_the_sync_stops_is_not_a_second_request():
    """A second c (or C) logged "cancel requested" and said "Cancelling…" again."""
    async with held_sync() as (app, pilot, monitor, client):
        await pilot.press("c")
        await wait_for(pilot, lambda: "cancel requested" in log_text(monitor))
        await pilot.press("c", "C")
        await wait_for(pilot, lambda: len(app._notifications) >= 3)
        messages = [n.message for n in app._notifications]
        assert messages == [
            'Cancelling the sync of "slow"…',
            'Already stopping: "slow"',
            'Already stopping: "slow"',
        ]
        client.release.set()
        await wait_for(pilot, lambda: "cancelled after" in log_text(monitor))
        assert log_text(monitor).count("cancel requested") == 1


@run_async
async def test_sync_started_while_monitor_is_shown():
    add_datasource("late")
    client = FakeJiraClient(60)
    app = app_with({"late": client})
    async with app.run_test(size=(120, 40)) as pilot:
        app.go("sync")
        await pilot.pause()
        monitor = app.mode_screen("sync")
        await pilot.press("s")  # sync every enabled datasource from the monitor itself
        await wait_for(pilot, lambda: "late" in monitor.controller.jobs)
        await wait_for(pilot, lambda: not monitor.controller.jobs["late"].running)
        await pilot.pause()
        (row,) = monitor.query(SyncRow)
        assert row.job.summary.issues == 60
        assert "60 issues" in str(row.query_one(".sync-stats").render())


@run_async
async def test_cancel_with_nothing_running_says_so():
    app = app_with({})
    async with app.run_test(size=(120, 40)) as pilot:
        app.go("sync")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert any("No sync is running" in n.message for n in app._notifications)


@run_async
async def test_unknown_datasource_becomes_a_failed_job():
    add_datasource("real")
    app = app_with({})
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_sync(["nope"])
        await pilot.pause()
        job = app.mode_screen("sync").controller.jobs["nope"]
        assert job.status == "error"
        assert 'no datasource named "nope" (configured: real)' in job.error


@run_async
async def test_same_datasource_is_not_started_twice():
    add_datasource("once")
    client = FakeJiraClient(300, hold_after=0)
    app = app_with({"once": client})
    async with app.run_test(size=(120, 40)) as pilot:
        controller = app.mode_screen("sync").controller
        first = controller.start(["once"])
        second = controller.start(["once"])
        assert len(first) == 1 and second == []
        client.release.set()
        await wait_for(pilot, lambda: not controller.jobs["once"].running)
        assert controller.jobs["once"].status == "ok"


@run_async
async def test_the_log_says_full_only_of_a_full_sync_and_incremental_of_none():
    """A first sync is no incremental one: the start line does not guess (the
    engine's own lines say what it fetches); a full sync asked for says so."""
    add_datasource("first")
    add_datasource("again")
    app = app_with({"first": FakeJiraClient(5), "again": FakeJiraClient(5)})
    async with app.run_test(size=(120, 40)) as pilot:
        controller = app.mode_screen("sync").controller
        controller.start(["first"])
        controller.start(["again"], full=True)
        await wait_for(pilot, lambda: not any(job.running for job in controller.jobs.values()))
        assert controller.jobs["first"].log[0].endswith(" sync started")
        assert controller.jobs["again"].log[0].endswith(" full sync started")


@run_async
async def test_clear_finished_does_not_claim_no_sync_ever_ran():
    """After x the monitor said "No sync has run since jiradex started"."""
    app = JiradexApp()
    finished_controller(app)
    async with app.run_test(size=(120, 36)) as pilot:
        app.go("sync")
        await pilot.pause()
        monitor = app.mode_screen("sync")
        empty = monitor.query_one("#sync-empty")
        assert len(monitor.query(SyncRow)) == 2 and not empty.display
        await pilot.press("x")
        await pilot.pause()
        assert not monitor.query(SyncRow) and empty.display
        text = str(empty.render())
        assert text.startswith("No sync is running; finished ones were cleared.")
        assert "since jiradex started" not in text


def shown(screen, widget) -> bool:
    """Drawn on screen, not scrolled or clipped away."""
    region = widget.region
    return region.height > 0 and screen.get_widget_at(region.x, region.y)[0] is widget


def finished_jobs(app, names: list[str], failed: str, log_lines: int = 3) -> None:
    from indexer.sync import SyncSummary
    from tui.sync_controller import SyncJob

    controller = SyncController(app)
    for name in names:
        job = SyncJob(name=name, phase="ok", done=2500, total=2500, started=0.0, finished=42.0)
        job.summary = SyncSummary(name, issues=2500, comments=9, attachments=3, seconds=42.0)
        if name == failed:
            job.phase = "error"
            job.summary = SyncSummary(name, status="error", error="Jira refused the credentials")
        job.log = [f"10:00:{n:02d} {name} line {n}" for n in range(log_lines)]
        controller.jobs[name] = job
    install_controller(app, controller)


@run_async
async def test_a_failed_card_below_the_fold_is_scrolled_into_view_at_80x24():
    """With several datasources the failed card (and its error) was below the fold."""
    app = JiradexApp()
    finished_jobs(app, ["alpha", "beta", "gamma", "delta"], failed="delta")
    async with app.run_test(size=(80, 24)) as pilot:
        app.go("sync")
        await pilot.pause()
        await pilot.pause()
        monitor = app.mode_screen("sync")
        rows = {row.job.name: row for row in monitor.query(SyncRow)}
        assert shown(monitor, rows["delta"].query_one(".sync-error"))
        assert "refused" in str(rows["delta"].query_one(".sync-error").render())


@run_async
async def test_a_sync_failing_while_others_run_is_scrolled_into_view():
    for name in ("one", "two", "three", "bad"):
        add_datasource(name)
    clients = {name: FakeJiraClient(50, hold_after=0) for name in ("one", "two", "three")}
    clients["bad"] = FakeJiraClient(fail=auth_error())
    app = app_with(clients)
    async with app.run_test(size=(80, 24)) as pilot:
        app.start_sync(["one", "two", "three", "bad"])
        monitor = app.mode_screen("sync")
        await wait_for(pilot, lambda: monitor.controller.jobs["bad"].status == "error")
        await pilot.pause()
        await pilot.pause()
        rows = {row.job.name: row for row in monitor.query(SyncRow)}
        assert shown(monitor, rows["bad"].query_one(".sync-error"))
        for client in clients.values():
            client.release.set()
        await wait_for(pilot, lambda: not monitor.controller.running)


@run_async
async def test_the_log_shows_the_newest_lines_after_a_resize():
    """After shrinking the terminal the log stayed at its old offset, on older lines."""
    app = JiradexApp()
    finished_jobs(app, ["alpha", "beta"], failed="beta", log_lines=40)
    async with app.run_test(size=(120, 40)) as pilot:
        app.go("sync")
        await pilot.pause()
        monitor = app.mode_screen("sync")
        log = monitor.query_one(RichLog)
        await wait_for(pilot, lambda: log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y > 0
        assert log.scroll_y == log.max_scroll_y
        assert log_text(monitor).rstrip().endswith("beta line 39")


@run_async
async def test_a_line_logged_as_the_log_is_replayed_is_shown_once():
    """A resize replays the log while Logged messages may still be queued: the
    monitor wrote their lines a second time (a sync's "done in" line twice)."""
    app = JiradexApp()
    finished_jobs(app, ["alpha"], failed="", log_lines=3)
    async with app.run_test(size=(120, 40)) as pilot:
        app.go("sync")
        monitor = app.mode_screen("sync")
        await wait_for(pilot, lambda: monitor._replayed)
        controller = monitor.controller
        controller._log(controller.jobs["alpha"], "late line")  # its Logged is queued
        monitor._replay_log()  # what a resize does before the queue is read
        controller._log(controller.jobs["alpha"], "later line")
        await wait_for(pilot, lambda: "later line" in log_text(monitor))
        assert log_text(monitor).count("late line") == 1
        assert log_text(monitor).count("later line") == 1


def test_the_fetching_line_counts_one_issue_in_the_singular():
    """Each incremental sync fetches the last changed issue again: the log said
    "fetching 1 new or changed issues" on every one."""
    from tui.sync_controller import _phase_line

    assert _phase_line("fetching", 1) == "fetching 1 new or changed issue"
    assert _phase_line("fetching", 2500) == "fetching 2,500 new or changed issues"
    assert _phase_line("fetching", 0) == "nothing new to fetch"


def test_format_duration():
    assert format_duration(None) == "—"
    assert format_duration(4.4) == "4s"
    assert format_duration(185) == "3m 05s"
    assert format_duration(3720) == "1h 02m"


def finished_controller(app) -> SyncController:
    """A controller holding two finished jobs with fixed logs (stable snapshots)."""
    from indexer.sync import SyncSummary
    from tui.sync_controller import SyncJob

    controller = SyncController(app)
    ok = SyncJob(name="alpha", phase="ok", done=2500, total=2500, started=0.0, finished=42.0)
    ok.summary = SyncSummary(
        "alpha", issues=2500, comments=9120, attachments=312, deleted=3, seconds=42.0
    )
    ok.log = [
        "10:00:00 sync started",
        "10:00:01 listing issues",
        "10:00:02 fetching 2,500 new or changed issues",
        "10:00:42 done in 42s: 2,500 issues, 9,120 comments, 312 attachments written, 3 deleted",
    ]
    bad = SyncJob(name="beta 日本語 🚀", phase="error", started=0.0, finished=1.0)
    bad.summary = SyncSummary(
        "beta 日本語 🚀",
        status="error",
        error="Jira refused the credentials (401): check the e-mail and API token",
        seconds=1.0,
    )
    bad.log = [
        "10:00:00 sync started",
        "10:00:01 error: Jira refused the credentials (401): check the e-mail and API token",
    ]
    controller.jobs = {"alpha": ok, bad.name: bad}
    return install_controller(app, controller)


def test_snapshot_sync_monitor_finished(snap_compare):
    app = JiradexApp()
    finished_controller(app)

    async def run_before(pilot):
        app.go("sync")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_snapshot_sync_monitor_empty(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        app.go("sync")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 24), run_before=run_before)


def test_a_listing_row_shows_what_is_written_meanwhile():
    from tui.sync_controller import SyncJob

    job = SyncJob("jira", phase="listing", done=15000, written=1200)
    assert str(SyncRow._stats(job)).startswith("15,000 listed · 1,200 written · elapsed ")
    job.written = 0
    assert str(SyncRow._stats(job)).startswith("15,000 listed · elapsed ")


@run_async
async def test_log_lines_fit_the_log_at_80_columns():
    """RichLog wraps at 78 cells at least (its min_width): at 80 columns the log is
    74 wide, so each line lost its last four cells (the "0 " of "0 deleted") under
    the border and a horizontal scrollbar took a row."""
    app = JiradexApp()
    finished_jobs(app, ["alpha"], failed="", log_lines=0)
    async with app.run_test(size=(80, 24)) as pilot:
        app.go("sync")
        monitor = app.mode_screen("sync")
        await wait_for(pilot, lambda: monitor._replayed)
        log = monitor.query_one(RichLog)
        controller = monitor.controller
        line = "done in 1s: 400 issues, 2,042 comments, 0 attachments written, 0 deleted"
        controller._log(controller.jobs["alpha"], line)
        await wait_for(pilot, lambda: "deleted" in log_text(monitor))
        await pilot.pause()
        assert log.virtual_size.width <= log.scrollable_content_region.width
        assert not log.show_horizontal_scrollbar
        width = log.scrollable_content_region.width
        shown_text = " ".join(strip.crop(0, width).text.strip() for strip in log.lines)
        assert "written, 0 deleted" in shown_text


@run_async
async def test_a_wrapped_log_line_is_indented_under_its_own_start():
    """The rest of a line too long for the log started under the time, where it read
    as a line of its own."""
    app = JiradexApp()
    finished_jobs(app, ["alpha"], failed="", log_lines=0)
    async with app.run_test(size=(80, 24)) as pilot:
        app.go("sync")
        monitor = app.mode_screen("sync")
        await wait_for(pilot, lambda: monitor._replayed)
        controller = monitor.controller
        line = "done in 1s: 400 issues, 2,042 comments, 0 attachments written, 0 deleted"
        controller._log(controller.jobs["alpha"], line)
        await wait_for(pilot, lambda: "deleted" in log_text(monitor))
        lines = [text.rstrip() for text in log_text(monitor).splitlines() if text.strip()]
        assert len(lines) == 2
        assert lines[0].split()[1:3] == ["alpha", "done"]
        stamp_width = len(lines[0].split(" ")[0]) + 1
        assert lines[1][:stamp_width].strip() == "" and lines[1][stamp_width] != " "

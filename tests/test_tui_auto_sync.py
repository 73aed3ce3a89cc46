"""Scheduled syncs while the TUI is open (tui.auto_sync).

The sync engine runs for real against the test's index; the Jira client is the
in-memory fake of tests/tui_fakes.py. The app's timers are made short here (the
conftest turns them off for every other test).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from tui_fakes import FakeJiraClient, auth_error, run_async
from tui_helpers import add_datasource, wait_for

from indexer import config
from indexer.paths import settings_path
from indexer.store import Store
from tui.app import JiradexApp
from tui.screens.search import ResultsTable
from tui.sync_controller import SyncController, controller_for, install_controller


@pytest.fixture
def fast_schedule(monkeypatch):
    monkeypatch.setattr("tui.app.AUTO_SYNC_FIRST_S", 0.05)
    monkeypatch.setattr(JiradexApp, "AUTO_SYNC_EVERY_S", 0.1)


def app_with(clients: dict[str, FakeJiraClient]) -> JiradexApp:
    app = JiradexApp()
    install_controller(app, SyncController(app, client_factory=lambda ds: clients[ds.name]))
    return app


def runs(name: str) -> list[dict]:
    with Store() as store:
        return store.runs(name)


@run_async
async def test_a_due_datasource_syncs_in_the_background_and_the_results_show_it(
    fast_schedule,
):
    add_datasource("alpha", "ALPHA")
    app = app_with({"alpha": FakeJiraClient(30, project="ALPHA")})
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: [run["status"] for run in runs("alpha")] == ["ok"])
        await wait_for(pilot, lambda: table.row_count == 30)
        assert app.current_mode == "search", "a scheduled sync took the user off search"
        job = controller_for(app).jobs["alpha"]
        assert job.background and job.log[0].endswith("scheduled sync started")
        # Its 5m interval runs from that sync's start: the next looks start nothing.
        await pilot.pause(0.5)
        assert len(runs("alpha")) == 1


@run_async
async def test_no_scheduled_sync_starts_in_a_home_this_user_cannot_write(
    fast_schedule, monkeypatch
):
    """A read-only home (a read-only volume; an index another user's cron job syncs):
    each scheduled sync would only fail, and the first said "Sync failed" as the
    TUI opened. The data directory reads as unwritable here as on a read-only
    mount: access() says no."""
    import os

    from indexer import paths

    add_datasource("alpha", "ALPHA")
    with Store() as store:
        store.upsert_issues([])
    data = str(paths.data_dir())
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and str(path).startswith(data):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    app = app_with({"alpha": FakeJiraClient(30, project="ALPHA")})
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._auto_sync is not None)
        await pilot.pause(0.5)
        assert controller_for(app).jobs == {}
        assert not [n for n in app._notifications if "Sync" in n.message]
    assert runs("alpha") == []


@run_async
async def test_a_datasource_synced_within_its_interval_or_not_scheduled_is_left_alone(
    fast_schedule,
):
    add_datasource("fresh", "FRESH")
    manual = add_datasource("manual", "MANUAL")
    config.update_datasource(dataclasses.replace(manual, sync_enabled=False))
    add_datasource("off", "OFF", enabled=False)
    with Store() as store:  # e.g. `jiradex sync` from cron a moment ago
        store.finish_run(store.start_run("fresh"), status="ok")
    clients = {name: FakeJiraClient(5, project=name.upper()) for name in ("fresh", "manual", "off")}
    app = app_with(clients)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._auto_sync is not None)
        await pilot.pause(0.5)
        assert controller_for(app).jobs == {}
    assert len(runs("fresh")) == 1 and runs("manual") == [] and runs("off") == []


@run_async
async def test_a_scheduled_sync_failing_again_and_again_says_so_once(fast_schedule):
    bad = add_datasource("bad", "BAD")
    config.update_datasource(dataclasses.replace(bad, interval="1s"))
    app = app_with({"bad": FakeJiraClient(fail=auth_error())})
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(runs("bad")) >= 3, timeout=20)
        await pilot.pause()
        failures = [n for n in app._notifications if 'Sync of "bad" failed' in n.message]
        assert len(failures) == 1
        assert all(run["status"] == "error" for run in runs("bad"))


@pytest.mark.parametrize("setting", [True, False, "false", "off"])
@run_async
async def test_background_sync_false_in_settings_turns_the_schedule_off(
    fast_schedule, monkeypatch, setting
):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"background_sync": setting}), encoding="utf-8")
    looks = []
    monkeypatch.setattr(JiradexApp, "check_auto_sync", lambda self: looks.append(1))
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        on = setting is True
        if on:
            await wait_for(pilot, lambda: len(looks) >= 2)
    assert bool(looks) is on


@run_async
async def test_a_scheduled_sync_ending_first_does_not_take_the_user_home_early(fast_schedule):
    """`jiradex demo` starts the app on the sync monitor and goes home when that sync
    ends; a scheduled sync of another datasource ending first took it home while
    the user's sync still ran."""
    add_datasource("slow", "SLOW")
    add_datasource("fast", "FAST")
    slow = FakeJiraClient(300, project="SLOW", hold_after=100)
    clients = {"slow": slow, "fast": FakeJiraClient(5, project="FAST")}
    app = JiradexApp(start_sync=["slow"])
    install_controller(app, SyncController(app, client_factory=lambda ds: clients[ds.name]))
    async with app.run_test(size=(120, 40)) as pilot:
        controller = controller_for(app)
        await wait_for(pilot, lambda: "fast" in controller.jobs)
        await wait_for(pilot, lambda: not controller.jobs["fast"].running)
        await pilot.pause()
        assert controller.jobs["fast"].background
        assert controller.is_running("slow") and app.current_mode == "sync"
        slow.release.set()
        await wait_for(pilot, lambda: app.current_mode == "search")


@run_async
async def test_a_scheduled_start_skips_what_changed_since_it_was_found_due():
    """Between the look (on a worker) and the start (on the app thread) a datasource
    can be disabled, removed, or taken by another sync: skipped, not an error."""
    from indexer.locks import sync_lock

    add_datasource("ok", "OK")
    add_datasource("off", "OFF", enabled=False)
    add_datasource("busy", "BUSY")
    clients = {name: FakeJiraClient(3, project=name.upper()) for name in ("ok", "off", "busy")}
    app = app_with(clients)
    async with app.run_test(size=(120, 40)) as pilot:
        controller = controller_for(app)
        with sync_lock("busy"):  # `jiradex sync busy` in another terminal
            jobs = controller.start(["ok", "off", "gone", "busy"], background=True)
        assert [job.name for job in jobs] == ["ok"]
        await wait_for(pilot, lambda: not controller.jobs["ok"].running)
        assert not app._notifications, [n.message for n in app._notifications]

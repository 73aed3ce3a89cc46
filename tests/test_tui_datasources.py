"""Datasources screen: list with counts, add/edit form with the CLI's validation,
test connection, enable/disable, delete with confirmation, sync now.

Jira is an in-memory fake (tests/tui_fakes.py); config and index are real, under the
test's JIRADEX_HOME.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from textual.widgets import Checkbox, DataTable, Input, Static
from tui_fakes import FakeJiraClient, auth_error, run_async
from tui_helpers import LaterClock, add_datasource, issue, settle, wait_for

import tui.screens.datasources as datasources_module
from indexer import config
from indexer.store import Store
from tui.app import JiradexApp
from tui.screens.datasources import DatasourcesScreen
from tui.sync_controller import SyncController, install_controller
from tui.widgets.datasource_form import ConfirmScreen, DatasourceFormScreen


@pytest.fixture
def fake_client(monkeypatch):
    client = FakeJiraClient(40)
    monkeypatch.setattr(datasources_module, "default_client_factory", lambda ds: client)
    return client


def make_app(client=None) -> JiradexApp:
    app = JiradexApp()
    if client is not None:
        install_controller(app, SyncController(app, client_factory=lambda ds: client))
    return app


async def open_form(app, pilot, key: str) -> DatasourceFormScreen:
    """The datasource form, opened from the list with `a` (add) or `e` (edit)."""
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(app.screen, DatasourceFormScreen)
    return app.screen


async def open_screen(app, pilot) -> DatasourcesScreen:
    app.go("datasources")
    screen = app.mode_screen("datasources")
    await wait_for(pilot, lambda: screen.loaded)
    await pilot.pause()
    return screen


async def type_into(pilot, screen, field: str, text: str) -> None:
    widget = screen.query_one(f"#{field}", Input)
    widget.value = text
    await pilot.pause()


async def fill_form(pilot, form, name: str, endpoint: str, project: str) -> None:
    """The datasource form's three required fields."""
    for field, text in (("name", name), ("endpoint", endpoint), ("project", project)):
        await type_into(pilot, form, field, text)


@run_async
async def test_empty_state_then_add_through_the_form(fake_client):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        assert screen.query_one("#ds-empty").display
        assert not screen.query_one(DataTable).display
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Platform", "https://acme.atlassian.net/", "plat")
        await type_into(pilot, form, "username", "me@example.com")
        await type_into(pilot, form, "token", "secret-token-1")
        await type_into(pilot, form, "interval", "1h30m")
        await pilot.click("#save")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: [r.ds.name for r in screen.rows] == ["Platform"])
        saved = config.get_datasource("platform")
        assert saved.endpoint == "https://acme.atlassian.net"
        assert saved.project_key == "PLAT"
        assert saved.token == "secret-token-1"
        assert saved.interval == "1h30m"
        table = screen.query_one(DataTable)
        assert table.row_count == 1
        assert str(table.get_cell("Platform", "project")) == "PLAT"


@run_async
async def test_form_shows_the_cli_messages_beside_each_field(fake_client):
    add_datasource("Existing")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "existing", "acme.atlassian.net", "1X")
        await type_into(pilot, form, "interval", "5")
        await type_into(pilot, form, "username", "me@example.com")
        await pilot.click("#save")
        await pilot.pause()
        assert isinstance(app.screen, DatasourceFormScreen)  # not saved
        assert 'a datasource named "existing" already exists' in form.field("name").error
        assert form.field("endpoint").error == (
            'endpoint "acme.atlassian.net" has no scheme; write it as https://acme.atlassian.net'
        )
        assert form.field("project").error.startswith('project key "1X" must start with a letter')
        assert "(a unit is required)" in form.field("interval").error
        # fix those: the cross-field rule (username without token) remains
        await fill_form(pilot, form, "Second", "https://acme.atlassian.net", "ACME")
        await type_into(pilot, form, "interval", "5m")
        await pilot.click("#save")
        await pilot.pause()
        assert form.field("token").error.startswith("username is set but token is empty")
        assert form.field("endpoint").error == ""
        assert [ds.name for ds in config.load_datasources()] == ["Existing"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasourcesScreen)


def is_shown(screen, selector: str) -> bool:
    widget = screen.query_one(selector)
    region = widget.region
    return region.height >= 1 and screen.get_widget_at(region.x, region.y)[0] is widget


def assert_shown(screen, selector: str) -> None:
    """The widget is drawn on screen, not clipped away by its dialog."""
    widget = screen.query_one(selector)
    region = widget.region
    assert region.height >= 1, selector
    assert screen.get_widget_at(region.x, region.y)[0] is widget, selector


@run_async
async def test_form_buttons_and_status_stay_on_screen_at_80x24(fake_client):
    """At 80x24 the fields pushed Save, Test, Cancel and the status out of the dialog."""
    add_datasource("Existing")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        for selector in ("#test", "#save", "#cancel"):
            assert_shown(form, selector)
        form.query_one("#sync_enabled", Checkbox).focus()  # the last row scrolls into view
        # the focus scroll is animated: on a loaded machine it outlasts a pause
        await wait_for(pilot, lambda: is_shown(form, "#sync_enabled"))
        assert_shown(form, "#sync_enabled")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        form = await open_form(app, pilot, "e")
        await type_into(pilot, form, "endpoint", "nope")
        await type_into(pilot, form, "project", "")
        await pilot.click("#save")
        await pilot.pause()
        assert isinstance(app.screen, DatasourceFormScreen)  # not saved
        assert form.field("project").error
        assert "Fix the fields" in str(form.query_one("#form-status", Static).render())
        for selector in ("#form-status", "#test", "#save", "#cancel"):
            assert_shown(form, selector)


@run_async
async def test_the_first_field_in_error_shows_its_message_at_80x24(fake_client):
    """Save with a bad interval (the last field) focused the interval, but its message
    stayed below the fold: "Fix the fields marked in red" and no word of what."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Platform", "https://acme.atlassian.net", "PLAT")
        await type_into(pilot, form, "interval", "5 fortnights")
        form.query_one("#name", Input).focus()
        await wait_for(pilot, lambda: is_shown(form, "#name"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.focused is form.query_one("#interval"))
        await wait_for(pilot, lambda: is_shown(form, "#field-interval .field-error"))
        message = form.query_one("#field-interval .field-error", Static)
        assert "must be a duration" in str(message.render())


@run_async
async def test_plain_http_is_refused_like_the_cli(fake_client):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await type_into(pilot, form, "endpoint", "http://jira.example.com")
        with pytest.raises(config.ConfigError) as cli_error:
            config.validate_endpoint("http://jira.example.com")
        assert form.field("endpoint").error == str(cli_error.value)


@run_async
async def test_test_connection_in_form_success_and_failure(monkeypatch):
    clients = [FakeJiraClient(visible_projects=("ACME",)), FakeJiraClient(fail=auth_error())]
    monkeypatch.setattr(datasources_module, "default_client_factory", lambda ds: clients.pop(0))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Acme", "https://acme.atlassian.net", "ACME")
        await type_into(pilot, form, "username", "me@example.com")
        await type_into(pilot, form, "token", "tok-abcdef")
        status = form.query_one("#form-status")
        await pilot.click("#test")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        text = str(status.render())
        assert "Zoë Ångström" in text and "Jira Cloud" in text
        assert "project ACME (Demo project) visible" in text
        assert not status.has_class("-error")
        await pilot.click("#test")
        await wait_for(pilot, lambda: "refused the credentials" in str(status.render()))
        assert status.has_class("-error")
        assert config.load_datasources() == []  # testing saves nothing


@run_async
async def test_test_from_list_reports_hidden_project(monkeypatch):
    add_datasource("Acme", project="SECRET")
    client = FakeJiraClient(visible_projects=("OTHER",))
    monkeypatch.setattr(datasources_module, "default_client_factory", lambda ds: client)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("t")
        details = screen.query_one("#ds-details")
        await wait_for(pilot, lambda: "does not exist" in str(details.render()))
        assert any(
            n.severity == "error" and "Project SECRET does not exist" in n.message
            for n in app._notifications
        )


@run_async
async def test_edit_keeps_token_and_toggle_and_delete(fake_client):
    add_datasource("Acme", project="ACME")
    with Store() as store:
        store.upsert_issues(
            [
                {
                    "id": "1",
                    "key": "ACME-1",
                    "project": "ACME",
                    "datasource": "Acme",
                    "summary": "Pool timeout",
                    "updated": "2024-05-01T12:00:00.000Z",
                    "created": "2024-05-01T12:00:00.000Z",
                }
            ]
        )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        assert screen.query_one(DataTable).get_cell("Acme", "issues").plain == "1"
        # edit: change the interval, leave the token empty (kept)
        form = await open_form(app, pilot, "e")
        assert form.query_one("#name", Input).disabled
        await type_into(pilot, form, "interval", "10m")
        form.query_one("#attachments", Checkbox).value = True
        await pilot.click("#save")
        await wait_for(pilot, lambda: app.screen is screen)
        edited = config.get_datasource("Acme")
        assert edited.interval == "10m" and edited.index_attachments
        assert edited.token == "tok-123456"
        # disable / enable
        await pilot.press("space")
        await pilot.pause()
        assert config.get_datasource("Acme").enabled is False
        # delete, cancelled first, then confirmed with the index purge
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert [ds.name for ds in config.load_datasources()] == ["Acme"]
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_for(pilot, lambda: screen.rows == [] and screen.query_one("#ds-empty").display)
        assert config.load_datasources() == []
    with Store() as store:
        assert store.stats("Acme")["issues"] == 0


@run_async
async def test_delete_keeps_the_datasource_when_its_issues_cannot_be_removed():
    """The index failing must not leave issues that no datasource owns: the
    datasource was removed from the config first, then the purge failed."""
    from indexer.errors import JiradexError

    add_datasource("Acme", project="ACME")
    with Store() as store:
        store.upsert_issues([{"id": "1", "key": "ACME-1", "project": "ACME", "datasource": "Acme"}])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # "Also remove its 1 indexed issue" ticked

        def broken_index():
            raise JiradexError("the index is damaged: run `jiradex index check`")

        screen.store_factory = broken_index
        await pilot.click("#yes")
        await wait_for(pilot, lambda: any("damaged" in n.message for n in app._notifications))
        assert [ds.name for ds in config.load_datasources()] == ["Acme"]


@run_async
async def test_sync_now_opens_monitor_and_list_shows_counts():
    add_datasource("Acme", project="DEMO")
    client = FakeJiraClient(30)
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert app.current_mode == "sync"
        controller = app.mode_screen("sync").controller
        await wait_for(pilot, lambda: not controller.jobs["Acme"].running)
        app.go("datasources")
        await wait_for(
            pilot,
            lambda: screen.rows and screen.rows[0].stats["issues"] == 30,
        )
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert table.get_cell(screen.rows[0].ds.name, "issues").plain == "30"
        assert table.get_cell(screen.rows[0].ds.name, "status").plain == "ok"


@run_async
async def test_broken_config_file_is_a_message_not_a_crash(fake_client, jiradex_home):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        path = config.ensure_config_dir() / "datasources.json"
        path.write_text("[{", encoding="utf-8")
        screen = await open_screen(app, pilot)
        await asyncio.sleep(0)
        assert "invalid JSON at line 1" in str(screen.query_one("#ds-error").render())


def seed_index() -> None:
    add_datasource("Platform", project="PLAT")
    add_datasource("Mobile 移动 📱", project="MOB", enabled=False)
    with Store() as store:
        store.upsert_issues(
            [
                {
                    "id": str(n),
                    "key": f"PLAT-{n}",
                    "project": "PLAT",
                    "datasource": "Platform",
                    "summary": f"Issue {n}",
                    "updated": "2024-05-01T12:00:00.000Z",
                    "created": "2024-05-01T12:00:00.000Z",
                    "comments": [],
                }
                for n in range(1, 13)
            ]
        )
        run = store.start_run("Platform")
        store.finish_run(run, "ok", issues=12, seconds=3.2)
        run = store.start_run("Mobile 移动 📱")
        store.finish_run(
            run, "error", error="Project MOB does not exist or you do not have permission to see it"
        )


def test_snapshot_datasources_list(snap_compare):
    seed_index()
    app = JiradexApp()

    async def run_before(pilot):
        screen = await open_screen(app, pilot)
        # The selected row's details and the footer settle after the list: wait for
        # them so that the picture does not depend on the machine's load.
        details = screen.query_one("#ds-details", Static)
        await wait_for(pilot, lambda: "Last run" in str(details.render()))
        # A loaded machine can finish the first load before the screen's resume
        # event, which loads again: let that one land too (it rebuilds the table).
        await settle(pilot, app)
        # The table measures new rows when idle: on a loaded machine (CI, -n auto)
        # the picture was once taken before, with the Name column as wide as "Name".
        table = screen.query_one(DataTable)
        name = next(iter(table.columns.values()))

        def laid_out() -> bool:
            # The names are cut to what the table's width leaves; filled before the
            # table had its width, they are cut again on resize, and the refilled
            # column is as wide as "Name" until measured (a loaded run caught both).
            cells = [screen._cells(row) for row in screen.rows]
            room = screen._name_width(table, cells)
            return room == screen._name_room and name.content_width >= len("Mobile 移动 📱")

        await wait_for(pilot, laid_out)
        await wait_for(pilot, lambda: screen.focused is table)
        await pilot.pause()
        await wait_for(pilot, laid_out)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_snapshot_datasources_empty(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        await open_screen(app, pilot)

    assert snap_compare(app, terminal_size=(100, 24), run_before=run_before)


def test_snapshot_datasource_form_errors(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Platform", "acme.atlassian.net", "1X")
        await type_into(pilot, form, "username", "me@example.com")
        await pilot.click("#save")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


@run_async
async def test_edit_can_forget_the_saved_token_for_anonymous_access():
    """An empty token field keeps the saved token, so the form had no way back to
    anonymous access (the CLI has `datasource set NAME --token ''`)."""
    add_datasource("Acme", project="ACME")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        form = await open_form(app, pilot, "e")
        form.query_one("#forget_token", Checkbox).value = True
        await type_into(pilot, form, "username", "")
        await pilot.click("#save")
        await wait_for(pilot, lambda: app.screen is screen)
    edited = config.get_datasource("Acme")
    assert edited.token is None and edited.username is None
    assert edited.auth_mode == "anonymous"


@run_async
async def test_the_forget_token_box_is_only_there_when_a_token_is_saved():
    add_datasource("Public", project="PUB")
    config.update_datasource(
        dataclasses.replace(config.get_datasource("Public"), username=None, token=None)
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert not app.screen.query("#forget_token")


@run_async
async def test_a_saved_token_is_not_sent_to_a_site_url_typed_in_place_of_its_own(monkeypatch):
    """Editing the Site URL (a sandbox, a typo like acme.atlasian.net) and pressing
    Test or Save with the token box empty sent the saved token to the new site and
    saved it there. The form now asks for that site's token; the same site (written
    another way) keeps it."""
    add_datasource("Acme", project="ACME")  # token tok-123456 for example.atlassian.net
    tested: list[config.Datasource] = []

    def factory(ds):
        tested.append(ds)
        return FakeJiraClient(visible_projects=("ACME",))

    monkeypatch.setattr(datasources_module, "default_client_factory", factory)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        form = await open_form(app, pilot, "e")
        await type_into(pilot, form, "endpoint", "https://example.atlasian.net")
        assert "is for https://example.atlassian.net" in form.field("token").hint
        await pilot.click("#test")
        await pilot.click("#save")
        await pilot.pause()
        assert app.screen is form and tested == []
        assert "type the token for https://example.atlasian.net" in form.field("token").error
        await type_into(pilot, form, "endpoint", "HTTPS://Example.Atlassian.net/")
        assert "is kept when this stays empty" in form.field("token").hint
        await pilot.click("#save")
        await wait_for(pilot, lambda: app.screen is screen)
    edited = config.get_datasource("Acme")
    assert edited.endpoint == "https://example.atlassian.net"
    assert edited.token == "tok-123456"


@run_async
async def test_a_datasource_just_added_is_the_one_selected(fake_client):
    """After Save the cursor stayed on the row it was on: the details showed another
    datasource, and `s` (Sync now) synced that one, not the one just added."""
    add_datasource("Existing")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Zeta", "https://acme.atlassian.net", "ZET")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.rows) == 2)
        await pilot.pause()
        assert screen.selected.ds.name == "Zeta"
        assert str(screen.query_one("#ds-details", Static).render()).startswith("Zeta")


@run_async
async def test_a_second_datasource_for_the_same_issues_is_saved_with_a_warning(fake_client):
    """Two datasources for one project on one site list every search hit twice:
    the form saves it (another interval or token may be the point) and says so."""
    add_datasource("Existing")  # DEMO on https://example.atlassian.net
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Twin", "https://Example.atlassian.net/", "demo")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.rows) == 2)
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert warnings == [
            '"Twin" indexes the same issues as "Existing" (DEMO on '
            "https://example.atlassian.net): search will list each of them twice"
        ]


@run_async
async def test_the_form_status_goes_once_a_field_is_edited(fake_client):
    """The status line under the fields outlived what it was about: "Fix the fields
    marked in red" stayed once every field was fixed, and a test's "✔ Connected …
    project ACME visible" stayed after the project key was changed."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        status = form.query_one("#form-status", Static)
        await type_into(pilot, form, "name", "Acme")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Fix the fields" in str(status.render())
        await type_into(pilot, form, "endpoint", "https://acme.atlassian.net")
        await type_into(pilot, form, "project", "DEMO")
        assert str(status.render()) == ""
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        await type_into(pilot, form, "project", "OTHER")
        assert str(status.render()) == ""


@run_async
async def test_the_form_footer_lists_the_form_keys(fake_client):
    """The form had no footer of its own: the list's showed through under it, saying
    "a Add  t Test  s Sync now" (letters the form types) and never ^s Save or ^t Test."""
    from textual.widgets._footer import FooterKey

    add_datasource("Existing")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await pilot.pause()
        keys = {key.description: key for key in form.query(FooterKey)}
        assert {"Save", "Test", "Cancel"} <= set(keys)
        assert "Sync now" not in keys
        assert keys["Save"].region.bottom == 24  # the bottom line, over the list's


@run_async
async def test_the_delete_question_has_its_own_footer(fake_client):
    """Under the delete question the list's footer showed through ("a Add  e Edit
    del Delete …", keys the question ignores), never that Esc cancels."""
    from textual.widgets._footer import FooterKey

    add_datasource("Acme")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        keys = {key.description for key in app.screen.query(FooterKey)}
        assert "Cancel" in keys and "Add" not in keys


@run_async
async def test_a_long_name_leaves_the_counts_whole_at_80_columns(fake_client):
    """A datasource named at length kept 28 cells at 80 columns and pushed the counts
    to the edge: 21,946 comments read "21,94". The name gives way (cut with …), and
    takes its room again when the terminal grows."""
    long_name = "Platform team — 数据库 very long name for testing"
    add_datasource(long_name)
    comments = [{"id": f"c{n}", "author": "A", "created": "2024-01-01T00:00:00.000Z",
                 "body": "x", "body_text": "x"} for n in range(12345)]  # fmt: skip
    with Store() as store:
        store.upsert_issues([issue(1, datasource=long_name, comments=comments)])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.pause()
        x = 0
        for column in table.ordered_columns:
            x += column.get_render_width(table)
            if str(column.label) == "Files":
                break
        assert x <= table.scrollable_content_region.width
        assert str(table.get_cell(long_name, "comments")) == "12,345"
        assert str(table.get_cell(long_name, "name")).endswith("…")
        await pilot.resize_terminal(140, 30)
        await wait_for(pilot, lambda: str(table.get_cell(long_name, "name")).startswith(
            "Platform team — 数据库 very"))  # fmt: skip


@run_async
async def test_the_status_of_each_datasource_is_read_at_80_columns(fake_client):
    """Status came last, after eight columns: at 80 columns it read "never s" or
    "cancell", and a running sync's "syncing (fetching issues)" its first letters."""
    add_datasource("Platform")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(app, pilot)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.pause()
        x = 0
        for column in table.ordered_columns:
            x += column.get_render_width(table)
            if str(column.label) in ("Name", "Enabled", "Status", "Last sync"):
                assert x <= table.scrollable_content_region.width, column.label
        assert str(table.get_cell("Platform", "status")) == "never synced"


@run_async
async def test_enter_on_test_connection_twice_tests_twice(fake_client):
    """Test connection is disabled while it runs, and Textual moved the focus to the
    next button: Enter pressed again to test again saved and closed the form."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(app, pilot)
        form = await open_form(app, pilot, "a")
        await fill_form(pilot, form, "Acme", "https://acme.atlassian.net", "DEMO")
        form.query_one("#test").focus()
        await pilot.press("enter")
        status = form.query_one("#form-status", Static)
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        await settle(pilot, app)
        assert app.focused is form.query_one("#test")
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is form and config.load_datasources() == []


@run_async
async def test_the_ages_on_the_list_keep_up_with_the_clock(fake_client, monkeypatch):
    """ "Last sync: just now" (and "Last run: ok, just now") stayed for as long as the
    screen was shown: the ages were worked out only when the list was read."""

    monkeypatch.setattr(datasources_module, "AGE_TICK_S", 0.05)
    add_datasource("Acme")
    with Store() as store:
        store.finish_run(store.start_run("Acme"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        table = screen.query_one(DataTable)
        assert str(table.get_cell("Acme", "last_sync")) == "just now"
        LaterClock(monkeypatch)
        await wait_for(pilot, lambda: str(table.get_cell("Acme", "last_sync")) == "10m ago")
        details = str(screen.query_one("#ds-details", Static).render())
        assert "Last run: ok, 10m ago" in details


@run_async
async def test_deleting_a_datasource_leaves_the_screen_working():
    """Delete (with its issues) ran on the UI thread: for a large project the whole
    TUI froze for seconds while the index forgot its issues."""
    import threading

    add_datasource("Acme", project="ACME")
    with Store() as store:
        store.upsert_issues([{"id": "1", "key": "ACME-1", "project": "ACME", "datasource": "Acme"}])
    entered, release = threading.Event(), threading.Event()

    def slow_store():
        entered.set()
        release.wait(5)  # a large index, forgetting its issues
        return Store()

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        screen.store_factory = slow_store
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_for(pilot, entered.is_set)
        # the removal is under way, and the app still answers
        assert [ds.name for ds in config.load_datasources()] == ["Acme"]
        assert any('Deleting "Acme"' in n.message for n in app._notifications)
        await pilot.press("x")  # not twice
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any('"Acme" is being deleted' in n.message for n in app._notifications)
        release.set()
        await wait_for(pilot, lambda: screen.rows == [])
        assert config.load_datasources() == []
        assert any('Deleted datasource "Acme"' in n.message for n in app._notifications)

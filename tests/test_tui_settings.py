"""Settings › Jira: enabled toggle, account type, cloud id Fetch, masked token, test,
save, disconnect, errors beside fields. Jira is an in-memory fake; jira.json is real.
"""

from __future__ import annotations

import stat

from textual.widgets import Input, RadioButton, Switch
from tui_fakes import FakeJiraClient, auth_error, run_async
from tui_helpers import wait_for

import tui.screens.settings as settings_module
from indexer import config, paths
from indexer.jira.errors import JiraResponseError
from tui.app import JiradexApp
from tui.screens.settings import SettingsScreen
from tui.widgets.datasource_form import ConfirmScreen


async def open_settings(app, pilot) -> SettingsScreen:
    app.go("settings")
    await pilot.pause()
    screen = app.mode_screen("settings")
    await pilot.pause()
    return screen


async def open_settings_still(app, pilot) -> SettingsScreen:
    """For snapshots: the focused Site URL box must not blink."""
    screen = await open_settings(app, pilot)
    for box in screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()
    return screen


def set_value(screen, field: str, value: str) -> None:
    screen.query_one(f"#{field}", Input).value = value


@run_async
async def test_save_personal_connection_then_disconnect():
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        assert "Not connected yet" in str(screen.query_one("#settings-status").render())
        assert not screen.query_one("#cloud-row").display
        token = screen.query_one("#api_token", Input)
        assert token.password  # masked
        set_value(screen, "base_url", "https://acme.atlassian.net/")
        set_value(screen, "email", "me@example.com")
        set_value(screen, "api_token", "tok-very-secret")
        await pilot.pause()
        await pilot.click("#save")
        await pilot.pause()
        saved = config.load_jira_connection()
        assert saved.enabled and saved.base_url == "https://acme.atlassian.net"
        assert saved.email == "me@example.com" and saved.api_token == "tok-very-secret"
        assert saved.cloud_id is None
        assert stat.S_IMODE(paths.jira_config_path().stat().st_mode) == 0o600
        # the form shows the file again, token kept but not shown
        assert token.value == ""
        assert "saved token" in str(screen.field("api_token").query_one(".field-hint").render())
        assert "tok-very-secret" not in str(
            screen.field("api_token").query_one(".field-hint").render()
        )
        # switch off and save: takes effect at once for the engine
        screen.query_one("#enabled", Switch).value = False
        await pilot.pause()
        await pilot.click("#save")
        await pilot.pause()
        assert config.load_jira_connection().enabled is False
        assert config.load_jira_connection().api_token == "tok-very-secret"
        # disconnect, with confirmation
        await pilot.click("#disconnect")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#yes")
        await pilot.pause()
        assert not paths.jira_config_path().exists()
        assert screen.query_one("#base_url", Input).value == ""


@run_async
async def test_typing_right_after_f6_fills_the_site_url():
    """The screen opened with the scrolling body focused: typed text went nowhere."""
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f6")
        await pilot.pause()
        await pilot.press(*"https://acme")
        screen = app.mode_screen("settings")
        assert app.focused is screen.query_one("#base_url", Input)
        assert screen.query_one("#base_url", Input).value == "https://acme"


@run_async
async def test_bad_values_are_shown_beside_fields_and_nothing_saved():
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        set_value(screen, "base_url", "http://jira.example.com")
        set_value(screen, "api_token", "has space")
        await pilot.pause()
        await pilot.click("#save")
        await pilot.pause()
        assert "uses plain http" in screen.field("base_url").error
        assert "must not contain spaces" in screen.field("api_token").error
        assert screen.field("email").error.startswith("e-mail is required")
        assert "Fix the fields" in str(screen.query_one("#settings-status").render())
        assert not paths.jira_config_path().exists()


@run_async
async def test_service_account_fetch_cloud_id_and_save(monkeypatch):
    client = FakeJiraClient(cloud_id="0f0e0d0c-1111-4222-8333-444455556666")
    monkeypatch.setattr(settings_module, "fetch_cloud_id", lambda site: client.tenant_info())
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#service", RadioButton).value = True
        await pilot.pause()
        assert screen.query_one("#cloud-row").display
        set_value(screen, "base_url", "https://acme.atlassian.net")
        set_value(screen, "email", "bot@serviceaccount.atlassian.com")
        set_value(screen, "api_token", "scoped-token-1")
        await pilot.click("#save")
        await pilot.pause()
        assert "needs the site's cloud id" in screen.field("cloud_id").error
        await pilot.click("#fetch")
        cloud = screen.query_one("#cloud_id", Input)
        await wait_for(pilot, lambda: cloud.value == client.cloud_id)
        await pilot.click("#save")
        await pilot.pause()
        saved = config.load_jira_connection()
        assert saved.cloud_id == client.cloud_id and saved.api_mode == "service_account"


def record_connections(monkeypatch, *clients) -> list:
    """The connections the screen builds clients for (a list filled as it goes); the
    clients are `clients` in turn, else a FakeJiraClient each."""
    seen: list = []
    queue = list(clients)

    def factory(conn):
        seen.append(conn)
        return queue.pop(0) if queue else FakeJiraClient()

    monkeypatch.setattr(settings_module, "connection_client", factory)
    return seen


@run_async
async def test_data_center_personal_access_token_hides_the_email(monkeypatch):
    seen = record_connections(monkeypatch)
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        email = screen.query_one("#email", Input)
        assert screen.field("email").display and not email.disabled
        set_value(screen, "email", "typed-before@example.com")  # dropped for a PAT
        await pilot.click("#pat")
        await pilot.pause()
        assert screen.query_one("#pat", RadioButton).value
        assert not screen.field("email").display and email.disabled
        assert not screen.query_one("#cloud-row").display
        assert "Personal Access Tokens" in str(
            screen.field("api_token").query_one(".field-hint").render()
        )
        set_value(screen, "base_url", "https://jira.example.org/jira")
        await pilot.click("#save")
        await pilot.pause()
        assert screen.field("api_token").error == "personal access token is required"
        assert screen.field("email").error == ""  # no e-mail asked for
        assert not paths.jira_config_path().exists()
        set_value(screen, "api_token", "dc-pat-secret-9")
        await pilot.pause()
        await pilot.click("#test")
        status = screen.query_one("#settings-status")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        assert seen[0].email is None and seen[0].api_mode == "personal_access_token"
        await pilot.click("#save")
        await pilot.pause()
        saved = config.load_jira_connection()
        assert saved.email is None and saved.api_token == "dc-pat-secret-9"
        assert saved.base_url == "https://jira.example.org/jira"
        assert saved.api_mode == "personal_access_token" and saved.problems() == []
        # the saved file comes back as a PAT, e-mail still hidden
        screen.reload()
        await pilot.pause()
        assert screen.query_one("#pat", RadioButton).value
        assert not screen.query_one("#personal", RadioButton).value
        assert not screen.field("email").display
        assert "Data Center personal access token, enabled" in str(status.render())
        # back to personal: the e-mail is asked for again
        await pilot.click("#personal")
        await pilot.pause()
        assert screen.field("email").display and not email.disabled


@run_async
async def test_fetch_failure_is_shown_on_the_field(monkeypatch):
    def fail(site):
        raise JiraResponseError(
            f"Cannot read the cloud id of {site} (HTTP 404 from /_edge/tenant_info): "
            "is it a Jira Cloud site? You can type the cloud id instead"
        )

    monkeypatch.setattr(settings_module, "fetch_cloud_id", fail)
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#service", RadioButton).value = True
        set_value(screen, "base_url", "https://jira.example.com")
        await pilot.pause()
        await pilot.click("#fetch")
        await wait_for(pilot, lambda: "is it a Jira Cloud site" in screen.field("cloud_id").error)


@run_async
async def test_test_connection_ok_then_refused(monkeypatch):
    seen = record_connections(monkeypatch, FakeJiraClient(), FakeJiraClient(fail=auth_error()))
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#enabled", Switch).value = False  # testing still works
        set_value(screen, "base_url", "https://acme.atlassian.net")
        set_value(screen, "email", "me@example.com")
        set_value(screen, "api_token", "tok-abcdef")
        await pilot.pause()
        status = screen.query_one("#settings-status")
        await pilot.click("#test")
        await wait_for(pilot, lambda: "Connected as Zoë Ångström" in str(status.render()))
        assert seen[0].enabled is True and seen[0].api_token == "tok-abcdef"
        await pilot.click("#test")
        await wait_for(pilot, lambda: "refused the credentials" in str(status.render()))
        assert status.has_class("-error")
        assert not paths.jira_config_path().exists()  # testing saves nothing


@run_async
async def test_environment_override_is_pointed_out(monkeypatch):
    monkeypatch.setenv("JIRA_BASE_URL", "https://env.atlassian.net")
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        note = screen.query_one("#env-note")
        assert note.display and "JIRA_BASE_URL" in str(note.render())


@run_async
async def test_broken_jira_json_is_reported_not_overwritten():
    config.ensure_config_dir()
    paths.jira_config_path().write_text("{oops", encoding="utf-8")
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        assert "invalid JSON" in str(screen.query_one("#settings-status").render())
        set_value(screen, "base_url", "https://acme.atlassian.net")
        set_value(screen, "email", "me@example.com")
        set_value(screen, "api_token", "tok-abcdef")
        await pilot.click("#save")
        await pilot.pause()
        assert "invalid JSON" in str(screen.query_one("#settings-status").render())
        assert paths.jira_config_path().read_text(encoding="utf-8") == "{oops"


def test_snapshot_settings_empty(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        await open_settings_still(app, pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_snapshot_settings_service_account_saved(snap_compare):
    config.save_jira_connection(
        config.JiraConnection(
            enabled=True,
            base_url="https://acme.atlassian.net",
            cloud_id="0f0e0d0c-1111-4222-8333-444455556666",
            email="bot@serviceaccount.atlassian.com",
            api_token="scoped-token-abcd",
        )
    )
    app = JiradexApp()

    async def run_before(pilot):
        screen = await open_settings_still(app, pilot)
        set_value(screen, "base_url", "http://acme.atlassian.net")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


@run_async
async def test_the_saved_token_never_goes_to_a_site_typed_in_place_of_its_own(monkeypatch):
    """Changing the Site URL (a sandbox, a typo) and pressing Test sent the token saved
    for the old site to the new one: an empty token box kept it whatever the site."""
    config.save_jira_connection(
        config.JiraConnection(
            enabled=True,
            base_url="https://acme.atlassian.net",
            email="me@example.com",
            api_token="tok-saved-for-acme",
        )
    )
    seen = record_connections(monkeypatch)
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        status = screen.query_one("#settings-status")
        hint = screen.field("api_token").query_one(".field-hint")
        # Another path on the same site keeps it.
        set_value(screen, "base_url", "https://ACME.atlassian.net/jira")
        await pilot.pause()
        assert "is kept" in str(hint.render())
        set_value(screen, "base_url", "https://acme.atlasian.net")
        await pilot.pause()
        assert "is for https://acme.atlassian.net" in str(hint.render())
        await pilot.click("#test")
        await pilot.pause()
        assert seen == []
        assert "the saved token is for https://acme.atlassian.net" in (
            screen.field("api_token").error
        )
        await pilot.click("#save")
        await pilot.pause()
        assert config.load_jira_connection().base_url == "https://acme.atlassian.net"
        # With the site's own token typed, it goes there; back on the saved site the
        # saved token is used again.
        set_value(screen, "api_token", "tok-for-the-other-site")
        await pilot.pause()
        await pilot.click("#test")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        assert seen[-1].api_token == "tok-for-the-other-site"
        set_value(screen, "api_token", "")
        set_value(screen, "base_url", "https://acme.atlassian.net/")
        await pilot.pause()
        await pilot.click("#test")
        await wait_for(pilot, lambda: len(seen) == 2)
        assert seen[-1].api_token == "tok-saved-for-acme"


@run_async
async def test_a_test_answer_or_fix_message_goes_once_the_fields_are_edited(monkeypatch):
    """The status line said "Fix the fields marked in red" once every field was
    fixed, and "✔ Connected as …" after the token was changed to one never tested."""
    record_connections(monkeypatch)
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        status = screen.query_one("#settings-status")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "Fix the fields" in str(status.render())
        set_value(screen, "base_url", "https://acme.atlassian.net")
        set_value(screen, "email", "me@example.com")
        set_value(screen, "api_token", "tok-abcdef")
        await pilot.pause()
        assert "Fix the fields" not in str(status.render())
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        set_value(screen, "api_token", "tok-other")
        await pilot.pause()
        assert "Connected as" not in str(status.render())


@run_async
async def test_the_focus_stays_on_fetch_and_test_after_they_ran(monkeypatch):
    """Fetch and Test connection are disabled while they run: the focus went to
    nothing (Tab then started from the top of the page) or to Save."""
    record_connections(monkeypatch)
    monkeypatch.setattr(settings_module, "fetch_cloud_id", lambda site: FakeJiraClient().cloud_id)
    app = JiradexApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#service", RadioButton).value = True
        set_value(screen, "base_url", "https://acme.atlassian.net")
        await pilot.pause()
        screen.query_one("#fetch").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.query_one("#cloud_id", Input).value)
        await pilot.pause()
        assert app.focused is screen.query_one("#fetch")
        set_value(screen, "email", "me@example.com")
        set_value(screen, "api_token", "tok-abcdef")
        screen.query_one("#test").focus()
        await pilot.press("enter")
        status = screen.query_one("#settings-status")
        await wait_for(pilot, lambda: "Connected as" in str(status.render()))
        await pilot.pause()
        assert app.focused is screen.query_one("#test")


@run_async
async def test_settings_open_at_the_top_with_the_site_url_focused_at_80x24():
    """The Site URL was focused before the first layout and scrolled to the middle of
    the form: at 80x24 the screen opened with the start of the intro scrolled away."""
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url="https://acme.atlassian.net")
    )
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        await pilot.pause()
        site = screen.query_one("#base_url", Input)
        await wait_for(pilot, lambda: screen.focused is site)
        await pilot.pause(0.1)
        body = screen.query_one("#settings-body")
        assert body.scroll_y == 0
        assert screen.query_one("#settings-intro").region.y == body.region.y + 1  # its margin
        # the cursor after the saved URL, which is not selected (a letter would replace it)
        assert site.selection.is_empty and site.cursor_position == len(site.value) > 0


@run_async
async def test_on_a_short_terminal_the_focused_site_url_is_scrolled_into_view():
    app = JiradexApp()
    async with app.run_test(size=(80, 14)) as pilot:
        screen = await open_settings(app, pilot)
        site = screen.query_one("#base_url", Input)
        await wait_for(pilot, lambda: screen.focused is site)
        await pilot.pause(0.1)
        assert screen.query_one("#settings-body").region.contains_region(site.region)

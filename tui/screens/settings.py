"""Settings › Jira: the global connection (jira.json) used for task import and post-back.

The form edits the saved file's values (`load_jira_connection(use_env=False)`); a
`JIRA_*` variable that overrides one of them is pointed out next to it, since it wins
whatever is saved. Nothing is cached: every engine call reads the connection when it
needs it, so a Save or Disconnect takes effect at once (the app also gets a
`ConfigChanged` message to refresh what it shows).

Three account types: personal (Cloud e-mail + API token, Basic), service account
(cloud id, through the gateway) and Data Center / Server with a personal access token,
saved without an e-mail so it is sent as Bearer (the datasources' rule); the e-mail
field is hidden for that one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    Switch,
)

from indexer import config, secrets
from indexer.errors import ConfigError, JiradexError
from tui import keymap
from tui.messages import ConfigChanged
from tui.sync_controller import one_line
from tui.widgets.datasource_form import ConfigRule, ConfirmScreen, FormField, describe_test
from tui.widgets.fields import Field
from tui.widgets.format import Plain, disable_button, enable_button
from tui.widgets.title_bar import TitleBar

INTRO = (
    "The global Jira connection imports issues that are not in the index as tasks and "
    "posts task results back as comments. Datasources keep their own credentials."
)
FIELDS = ("base_url", "cloud_id", "email", "api_token")


def connection_client(conn: config.JiraConnection) -> Any:
    from indexer.jira import client_for_connection

    return client_for_connection(conn, interactive=True)


def fetch_cloud_id(site_url: str) -> str:
    from indexer.jira import fetch_cloud_id as fetch

    return fetch(site_url)


def _site(value: str) -> str:
    return config.validate_endpoint(value, "site URL")


def _token(value: str) -> None:
    config.validate_token(value, "API token")  # the CLI's rule


class SettingsScreen(Screen):
    """Settings › Jira (see module docstring)."""

    TITLE = "Settings › Jira"
    BINDINGS = keymap.bindings("settings")
    # The default ("*") focused the scrolling body, where typing went nowhere; and
    # "#base_url" focused the Site URL before the first layout and scrolled it to the
    # middle of the form: at 80x24 the intro opened with its start scrolled away.
    # on_mount focuses it without scrolling.
    AUTO_FOCUS = ""
    DEFAULT_CSS = """
    SettingsScreen #settings-body { padding: 0 2; }
    SettingsScreen #settings-intro { color: $text-muted; height: auto; margin: 1 0; }
    SettingsScreen .setting-row { height: auto; }
    SettingsScreen .setting-row { margin-bottom: 1; }
    SettingsScreen .setting-row Label { width: 16; padding: 0 1 0 0; text-align: right; }
    SettingsScreen #enabled-row Label { padding: 1 1 0 0; }
    SettingsScreen #enabled { margin: 0 0; }
    SettingsScreen RadioSet { width: auto; border: none; }
    SettingsScreen #cloud-row { height: auto; }
    SettingsScreen #cloud-row FormField { width: 1fr; }
    SettingsScreen #fetch { margin: 0 0 0 1; }
    SettingsScreen #env-note { color: $warning; height: auto; margin: 0 0 0 16; }
    SettingsScreen #settings-status { height: auto; min-height: 1; margin: 1 0 0 16; }
    SettingsScreen #settings-status.-error { color: $error; }
    SettingsScreen #settings-buttons { height: auto; margin: 1 0 0 16; }
    SettingsScreen #settings-buttons Button { margin-right: 1; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.saved = config.JiraConnection()
        self._touched: set[str] = set()
        # the form values a "Fix the fields…" or test answer speaks of (None: the
        # status line speaks of the saved file, or of nothing)
        self._status_for: tuple | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(id="settings-body"):
            yield Plain(INTRO, id="settings-intro")
            with Horizontal(classes="setting-row", id="enabled-row"):
                yield Label("Enabled")
                yield Switch(id="enabled")
            with Horizontal(classes="setting-row"):
                yield Label("Account type")
                with RadioSet(id="account", compact=True):
                    yield RadioButton("Personal (e-mail + API token)", id="personal", value=True)
                    yield RadioButton(
                        "Service account (scoped token via api.atlassian.com)", id="service"
                    )
                    yield RadioButton("Data Center / Server (personal access token)", id="pat")
            yield FormField(
                "Site URL",
                Field(
                    id="base_url",
                    placeholder="https://your-domain.atlassian.net",
                    validators=[ConfigRule(_site)],
                ),
                hint="browse links always use this address",
            )
            with Horizontal(id="cloud-row"):
                yield FormField(
                    "Cloud id",
                    Field(
                        id="cloud_id",
                        placeholder="press Fetch to read it from the site",
                        validators=[ConfigRule(config.validate_cloud_id)],
                    ),
                )
                yield Button("Fetch", id="fetch", compact=True)
            yield FormField("E-mail", Field(id="email", placeholder="you@example.com"))
            yield FormField(
                "API token",
                Field(
                    id="api_token",
                    password=True,
                    placeholder="API token (hidden)",
                    validators=[ConfigRule(_token)],
                ),
            )
            yield Plain("", id="env-note")
            yield Plain("", id="settings-status")
            with Horizontal(id="settings-buttons"):
                yield Button("Test connection", id="test", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Disconnect", id="disconnect", variant="error", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        site = self.query_one("#base_url", Input)
        self.set_focus(site, scroll_visible=False)
        # on opening, the cursor waits after the saved URL, as before (Tab into the
        # field still selects it): run after the field's own focus handler
        site.call_later(site.action_end)
        # only as far as it takes to show the field, on a terminal too short for it
        self.call_after_refresh(site.scroll_visible, animate=False)

    # ------------------------------------------------------------------ state

    def reload(self) -> None:
        """Fill the form from jira.json (a broken file is shown, never overwritten)."""
        try:
            self.saved = config.load_jira_connection(use_env=False)
        except ConfigError as exc:
            self.saved = config.JiraConnection()
            self._status(one_line(exc), error=True)
        else:
            self._status(self._describe_saved())
        conn = self.saved
        self.query_one("#enabled", Switch).value = conn.enabled if conn.configured else True
        account = {"service_account": "#service", "personal_access_token": "#pat"}
        self.query_one(account.get(conn.api_mode, "#personal"), RadioButton).value = True
        self.query_one("#base_url", Input).value = conn.base_url or ""
        self.query_one("#cloud_id", Input).value = conn.cloud_id or ""
        self.query_one("#email", Input).value = conn.email or ""
        self.query_one("#api_token", Input).value = ""
        self._touched.clear()
        for name in FIELDS:
            self.field(name).show_error(None)
        self._show_account()
        self._show_env()

    def _describe_saved(self) -> str:
        conn = self.saved
        if not conn.configured:
            return "Not connected yet"
        state = "enabled" if conn.enabled else "switched off"
        mode = {
            "service_account": "service account",
            "personal_access_token": "Data Center personal access token",
        }.get(conn.api_mode, "personal account")
        missing = "; missing: " + ", ".join(conn.problems()) if conn.problems() else ""
        return f"Saved connection ({mode}, {state}){missing}"

    def field(self, name: str) -> FormField:
        return self.query_one(f"#field-{name}", FormField)

    @property
    def service(self) -> bool:
        return self.query_one("#service", RadioButton).value

    @property
    def pat(self) -> bool:
        """Data Center / Server personal access token: no e-mail, sent as Bearer."""
        return self.query_one("#pat", RadioButton).value

    def _show_account(self) -> None:
        self.query_one("#cloud-row").display = self.service
        email = self.field("email")
        email.display = not self.pat
        email.input.disabled = self.pat
        email.label = "Service e-mail" if self.service else "E-mail"
        email.query_one(Label).update(email.label)
        token = self.field("api_token")
        token.label = "Access token" if self.pat else "API token"
        token.query_one(Label).update(token.label)
        token.input.placeholder = (
            "personal access token (hidden)" if self.pat else "API token (hidden)"
        )
        if self.saved.api_token and not self._keeps_saved_token():
            hint = (
                f"the saved token {secrets.mask(self.saved.api_token)} is for "
                f"{self.saved.base_url}: type the token for this site"
            )
        elif self.saved.api_token:
            hint = f"saved token {secrets.mask(self.saved.api_token)} is kept when this stays empty"
        elif self.pat:
            hint = "create one in Jira › your profile › Personal Access Tokens"
        else:
            hint = "create one at id.atlassian.com › Security › API tokens"
        token.set_hint(hint)

    def _show_env(self) -> None:
        in_use = config.jira_env_in_use()
        note = self.query_one("#env-note", Static)
        if in_use:
            note.update(
                Text(
                    f"⚠ {', '.join(in_use)} set in the environment: they override what is "
                    "saved here."
                )
            )
        note.display = bool(in_use)

    @on(RadioSet.Changed)
    def _account_changed(self) -> None:
        self._show_account()
        self._drop_stale_status()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id in FIELDS:
            self._touched.add(event.input.id)
            self.validate_form(only_touched=True)
        if event.input.id == "base_url":
            self._show_account()  # the token hint: kept, or not for another site
        self._drop_stale_status()

    def _values(self) -> tuple:
        return (
            *(self.query_one(f"#{name}", Input).value for name in FIELDS),
            self.service,
            self.pat,
        )

    def _drop_stale_status(self) -> None:
        """A "Fix the fields…" or a test's answer about values since edited goes,
        and the line says again what is saved."""
        if self._status_for is not None and self._status_for != self._values():
            self._status(self._describe_saved())

    def _keeps_saved_token(self) -> bool:
        """The saved token goes only to the site it was saved for: once the Site URL
        names another one (a sandbox, a typo), an empty token box is no token."""
        site = self.query_one("#base_url", Input).value.strip()
        if not (self.saved.api_token and site and self.saved.base_url):
            return bool(self.saved.api_token)  # no site on one side: nowhere else to go
        return config.same_origin(site, self.saved.base_url)

    def build(self) -> config.JiraConnection:
        typed = self.query_one("#api_token", Input).value.strip()
        token = typed or (self.saved.api_token if self._keeps_saved_token() else None)
        return dataclasses.replace(
            self.saved,
            enabled=self.query_one("#enabled", Switch).value,
            base_url=self.query_one("#base_url", Input).value.strip() or None,
            cloud_id=(self.query_one("#cloud_id", Input).value.strip() or None)
            if self.service
            else None,
            email=None if self.pat else (self.query_one("#email", Input).value.strip() or None),
            api_token=token,
        )

    def validate_form(self, only_touched: bool = False) -> config.JiraConnection | None:
        """Each field's one-line message; the connection when it can be saved."""
        errors: dict[str, str] = {}
        for name in FIELDS:
            widget = self.query_one(f"#{name}", Input)
            if name == "cloud_id" and not self.service:
                continue
            result = widget.validate(widget.value) if widget.validators else None
            if result is not None and not result.is_valid:
                errors[name] = result.failure_descriptions[0]
        conn = self.build()
        if not conn.base_url:
            errors.setdefault(
                "base_url", "site URL is required (e.g. https://your-domain.atlassian.net)"
            )
        if self.service and not conn.cloud_id:
            errors.setdefault(
                "cloud_id", "a service account needs the site's cloud id: press Fetch"
            )
        if conn.enabled and not conn.email and not self.pat:
            errors.setdefault("email", "e-mail is required (the account the token belongs to)")
        if conn.enabled and not conn.api_token:
            what = "personal access token" if self.pat else "API token"
            if self.saved.api_token and conn.base_url:
                errors.setdefault(
                    "api_token",
                    f"the saved token is for {self.saved.base_url}: type the {what} for "
                    f"{conn.base_url}",
                )
            errors.setdefault("api_token", f"{what} is required")
        for name in FIELDS:
            shown = not only_touched or name in self._touched
            self.field(name).show_error(errors.get(name) if shown else None)
        if not only_touched:
            self._touched.update(FIELDS)
        return None if errors else conn

    # ------------------------------------------------------------------ actions

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Ctrl+S saves what the fields hold once they have the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._save_now)

    def _save_now(self) -> None:
        conn = self.validate_form()
        if conn is None:
            self._status("Fix the fields marked in red", error=True, about_fields=True)
            return
        try:
            self.saved = config.save_jira_connection(conn)
        except ConfigError as exc:
            self._status(one_line(exc), error=True)
            return
        self.reload()
        self._status(f"Saved to {self._path()} (readable only by you); in use from now on")
        self.notify("Jira connection saved")
        self.app.post_message(ConfigChanged())

    @on(Button.Pressed, "#disconnect")
    def action_disconnect(self) -> None:
        if not self._path().exists():
            self._status("No saved connection to remove")
            return
        self.app.push_screen(
            ConfirmScreen(
                f"Forget the saved Jira connection ({self.saved.base_url or 'incomplete'})? "
                "Task import of unindexed issues and post-back will stop working.",
                "Disconnect",
            ),
            self._disconnect,
        )

    def _disconnect(self, answer: dict | None) -> None:
        if answer is None:
            return
        try:
            config.clear_jira_connection()
        except JiradexError as exc:
            self._status(one_line(exc), error=True)
            return
        self.reload()
        in_use = config.jira_env_in_use()
        extra = f" ({', '.join(in_use)} still apply)" if in_use else ""
        self._status(f"Disconnected: {self._path()} removed{extra}")
        self.notify("Jira connection removed")
        self.app.post_message(ConfigChanged())

    @on(Button.Pressed, "#test")
    def action_test(self) -> None:
        """Ctrl+T tests what the fields hold once they have the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._test_now)

    def _test_now(self) -> None:
        conn = self.validate_form()
        if conn is None:
            self._status(
                "Fix the fields marked in red before testing", error=True, about_fields=True
            )
            return
        self._status(f"Testing {conn.base_url} …", about_fields=True)
        disable_button(self.query_one("#test", Button))
        self._run_test(dataclasses.replace(conn, enabled=True), self._values())

    @work(thread=True, exclusive=True, group="settings-test", exit_on_error=False)
    def _run_test(self, conn: config.JiraConnection, values: tuple) -> None:
        try:
            client = connection_client(conn)
            try:
                ok, line = describe_test(client.test_connection(None))
            finally:
                close = getattr(client, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            ok, line = False, Text(f"✘ {one_line(exc)}")
        self.app.call_from_thread(self._tested, ok, line, values)

    def _tested(self, ok: bool, line: Text, values: tuple) -> None:
        if not self.is_attached:
            return
        enable_button(self.query_one("#test", Button))
        if values != self._values():
            return  # edited while it ran: the answer is about other values
        status = self.query_one("#settings-status", Static)
        status.update(line)
        status.set_class(not ok, "-error")
        self._status_for = values

    @on(Button.Pressed, "#fetch")
    def action_fetch(self) -> None:
        widget = self.query_one("#base_url", Input)
        try:
            site = _site(widget.value)
        except ConfigError as exc:
            self.field("base_url").show_error(str(exc))
            return
        self._status(f"Reading the cloud id of {site} …")
        disable_button(self.query_one("#fetch", Button))
        self._run_fetch(site)

    @work(thread=True, exclusive=True, group="settings-fetch", exit_on_error=False)
    def _run_fetch(self, site: str) -> None:
        try:
            cloud_id, error = fetch_cloud_id(site), None
        except Exception as exc:
            cloud_id, error = None, one_line(exc)
        self.app.call_from_thread(self._fetched, cloud_id, error)

    def _fetched(self, cloud_id: str | None, error: str | None) -> None:
        if not self.is_attached:
            return
        enable_button(self.query_one("#fetch", Button))
        if error is not None:
            self.field("cloud_id").show_error(error)
            self._status(error, error=True)
            return
        self.query_one("#cloud_id", Input).value = cloud_id or ""
        self._status(f"Cloud id {cloud_id} read from the site")

    # ------------------------------------------------------------------ helpers

    def _status(self, message: str, error: bool = False, about_fields: bool = False) -> None:
        status = self.query_one("#settings-status", Static)
        status.update(Text(message))
        status.set_class(error, "-error")
        self._status_for = self._values() if about_fields else None

    @staticmethod
    def _path():
        from indexer import paths

        return paths.jira_config_path()

"""The add/edit datasource form, its field helpers and the delete confirmation.

Every rule comes from `indexer.config`, the same functions the CLI goes through:
each field is checked as it is typed (its one-line message under the field), and
Save runs the whole `config.validate_datasource` / `add_datasource` path, whose
cross-field errors (username without token, cloud id without credentials, a name
already taken) are put back beside the field they are about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static
from textual.worker import get_current_worker

from indexer import config, secrets
from indexer.errors import ConfigError
from tui import keymap
from tui.sync_controller import one_line
from tui.widgets.fields import Field
from tui.widgets.format import Plain, disable_button, enable_button

ClientFactory = Callable[[config.Datasource], Any]


def default_client_factory(ds: config.Datasource) -> Any:
    from indexer.jira import client_for_datasource

    return client_for_datasource(ds, interactive=True)


class ConfigRule(Validator):
    """A Textual validator around one `indexer.config` check (raises ConfigError)."""

    def __init__(self, check: Callable[[str], Any]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except ConfigError as exc:
            return self.failure(str(exc))
        return self.success()


class FormField(Vertical):
    """A label, an input, and the one-line error under it."""

    DEFAULT_CSS = """
    FormField { height: auto; margin-bottom: 1; }
    FormField > Horizontal { height: auto; }
    FormField Label.field-label { width: 16; padding: 0 1 0 0; text-align: right; }
    FormField Input.-invalid { background: $error 25%; }
    FormField Input { width: 1fr; }
    FormField .field-hint { margin-left: 16; color: $text-muted; height: auto; padding: 0 1; }
    FormField .field-error { margin-left: 16; color: $error; height: auto; padding: 0 1; }
    """

    def __init__(self, label: str, field_input: Input, hint: str = "") -> None:
        super().__init__(id=f"field-{field_input.id}")
        self.label = label
        field_input.compact = True  # one line per field: the whole form fits 24 rows
        self.input = field_input
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="field-label")
            yield self.input
        hint = Plain(self.hint, classes="field-hint")
        hint.display = bool(self.hint)
        yield hint
        error = Plain("", classes="field-error")
        error.display = False
        yield error

    def show_error(self, message: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(Text(message or ""))
        error.display = bool(message)
        self.query_one(".field-hint").display = bool(self.hint) and not message
        self.input.set_class(bool(message), "-invalid")

    def set_hint(self, hint: str) -> None:
        self.hint = hint
        widget = self.query_one(".field-hint", Static)
        widget.update(Text(hint))
        widget.display = bool(hint) and not self.query_one(".field-error").display

    @property
    def error(self) -> str:
        widget = self.query_one(".field-error", Static)
        return str(widget.render()) if widget.display else ""


def describe_test(result: dict) -> tuple[bool, Text]:
    """(ok, one line) for a JiraClient.test_connection result."""
    text = Text()
    project = result.get("project")
    ok = project is None or bool(project.get("visible"))
    text.append("✔ " if ok else "✘ ", style="bold green" if ok else "bold red")
    deployment = "Jira Cloud" if result.get("deployment") == "cloud" else "Jira Data Center"
    text.append(f"Connected as {result.get('user', 'unknown')} · {deployment}")
    if result.get("api_version"):
        text.append(f" · REST v{result['api_version']}")
    if result.get("api_mode") == "service_account":
        text.append(" · service account")
    if project is not None:
        if project.get("visible"):
            name = f" ({project['name']})" if project.get("name") else ""
            text.append(f" · project {project['key']}{name} visible")
        else:
            text.append(f" · {project.get('error') or 'project not visible'}", style="red")
    return ok, text


# Where a message from validate_datasource belongs (its wording starts with the field).
_ERROR_FIELDS = (
    ("username is set but token", "token"),
    ("cloud_id", "cloud_id"),
    ("endpoint", "endpoint"),
    ("project key", "project"),
    ("token", "token"),
    ("sync.interval", "interval"),
    ("interval", "interval"),
    ("jql", "jql"),
    ("datasource name", "name"),
    ("a datasource named", "name"),
)


def field_for_error(message: str) -> tuple[str | None, str]:
    """(field id or None, message without the `datasource "x": ` prefix)."""
    text = message
    if text.startswith('datasource "') and '": ' in text:
        text = text.split('": ', 1)[1]
    for prefix, field in _ERROR_FIELDS:
        if text.startswith(prefix):
            return field, text
    return None, text


class DatasourceFormScreen(ModalScreen[config.Datasource | None]):
    """Add (existing=None) or edit a datasource; dismisses with the saved one.

    The title, status line and buttons are docked, and the fields scroll in what is
    left (max-height 100% of it): at 80x24 the fields pushed the buttons out."""

    BINDINGS = keymap.bindings("datasource_form")
    DEFAULT_CSS = """
    DatasourceFormScreen { align: center middle; }
    DatasourceFormScreen #form-dialog {
        width: 100; max-width: 96%; height: auto; max-height: 96%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    DatasourceFormScreen #form-title { dock: top; text-style: bold; padding: 0 1; height: 1; }
    DatasourceFormScreen #form-fields { height: auto; max-height: 100%; }
    DatasourceFormScreen #form-foot { dock: bottom; height: auto; }
    DatasourceFormScreen .checks { height: auto; margin-left: 16; }
    DatasourceFormScreen .checks Checkbox { width: auto; }
    DatasourceFormScreen #forget_token { margin: 0 0 1 16; width: auto; }
    DatasourceFormScreen #form-status { height: auto; padding: 0 1; min-height: 1; }
    DatasourceFormScreen #form-status.-error { color: $error; }
    DatasourceFormScreen #form-buttons { height: auto; align: right middle; }
    DatasourceFormScreen #form-buttons Button { margin-left: 1; }
    """

    FIELDS = ("name", "endpoint", "project", "username", "token", "cloud_id", "jql", "interval")

    def __init__(
        self,
        existing: config.Datasource | None = None,
        *,
        other_names: list[str] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__()
        self.existing = existing
        self.other_names = {n.casefold() for n in (other_names or [])}
        self.client_factory = client_factory or default_client_factory
        self._touched: set[str] = set()
        # the field values the status line speaks of (None: it is empty)
        self._status_for: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        ds = self.existing
        title = f'Edit datasource "{ds.name}"' if ds else "Add a datasource"
        token_hint = self._token_hint(ds.endpoint if ds else "")
        with Vertical(id="form-dialog"):
            yield Plain(title, id="form-title")
            with VerticalScroll(id="form-fields"):
                yield FormField(
                    "Name",
                    Field(
                        ds.name if ds else "",
                        id="name",
                        placeholder="e.g. Platform team",
                        validators=[ConfigRule(self._check_name)],
                        disabled=ds is not None,
                    ),
                )
                yield FormField(
                    "Site URL",
                    Field(
                        ds.endpoint if ds else "",
                        id="endpoint",
                        placeholder="https://your-domain.atlassian.net",
                        validators=[ConfigRule(config.validate_endpoint)],
                    ),
                )
                yield FormField(
                    "Project key",
                    Field(
                        ds.project_key if ds else "",
                        id="project",
                        placeholder="PROJ",
                        validators=[ConfigRule(config.validate_project_key)],
                    ),
                )
                yield FormField(
                    "E-mail / user",
                    Field(
                        (ds.username or "") if ds else "",
                        id="username",
                        placeholder="you@example.com (empty: token alone or anonymous)",
                    ),
                )
                yield FormField(
                    "Token",
                    Field(
                        "",
                        id="token",
                        password=True,
                        placeholder="API token or personal access token",
                        validators=[ConfigRule(_check_token)],
                    ),
                    hint=token_hint,
                )
                if ds and ds.token:
                    yield Checkbox(
                        "Forget the saved token (anonymous access)",
                        False,
                        id="forget_token",
                        compact=True,
                    )
                yield FormField(
                    "Cloud id",
                    Field(
                        (ds.cloud_id or "") if ds else "",
                        id="cloud_id",
                        placeholder="only for a service account (api.atlassian.com)",
                        validators=[ConfigRule(config.validate_cloud_id)],
                    ),
                )
                yield FormField(
                    "Extra JQL",
                    Field((ds.jql or "") if ds else "", id="jql", placeholder="optional"),
                )
                yield FormField(
                    "Sync interval",
                    Field(
                        ds.interval if ds else config.DEFAULT_INTERVAL,
                        id="interval",
                        placeholder="30s, 5m, 1h, 1d or 1h30m",
                        validators=[ConfigRule(config.parse_interval)],
                    ),
                )
                with Horizontal(classes="checks"):
                    yield Checkbox(
                        "Comments", ds.index_comments if ds else True, id="comments", compact=True
                    )
                    yield Checkbox(
                        "Attachments",
                        ds.index_attachments if ds else False,
                        id="attachments",
                        compact=True,
                    )
                    yield Checkbox(
                        "Enabled", ds.enabled if ds else True, id="enabled", compact=True
                    )
                    yield Checkbox(
                        "Auto sync",
                        ds.sync_enabled if ds else True,
                        id="sync_enabled",
                        compact=True,
                    )
            with Vertical(id="form-foot"):
                yield Plain("", id="form-status")
                with Horizontal(id="form-buttons"):
                    yield Button("Test connection", id="test", compact=True)
                    yield Button("Save", id="save", variant="primary", compact=True)
                    yield Button("Cancel", id="cancel", compact=True)
        # its own keys: the list's footer showed through, naming letters the form types
        yield Footer()

    def on_mount(self) -> None:
        first = "endpoint" if self.existing else "name"
        self.query_one(f"#{first}", Input).focus()

    # ------------------------------------------------------------------ checks

    def _check_name(self, value: str) -> str:
        name = config.validate_datasource_name(value)
        if self.existing is None and name.casefold() in self.other_names:
            raise ConfigError(
                f'a datasource named "{name}" already exists (names are case-insensitive); '
                "choose another name"
            )
        return name

    def field(self, name: str) -> FormField:
        return self.query_one(f"#field-{name}", FormField)

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value

    def checked(self, name: str) -> bool:
        return self.query_one(f"#{name}", Checkbox).value

    def _values(self) -> tuple[str, ...]:
        return tuple(self.value(name) for name in self.FIELDS)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "endpoint":
            self.field("token").set_hint(self._token_hint(event.value))
        if event.input.id in self.FIELDS:
            self._touched.add(event.input.id)
            self.validate_form(only_touched=True)
            if self._status_for is not None and self._status_for != self._values():
                # "Fix the fields…" or a test's answer is about values since edited
                self._status("")

    def _keeps_saved_token(self, endpoint: str) -> bool:
        """The saved token goes only to the site it was saved for: once the Site URL
        names another one (a sandbox, a typo), an empty token box is no token."""
        saved = self.existing.token if self.existing else None
        if not saved:
            return False
        if not endpoint.strip() or not self.existing.endpoint:
            return True  # nowhere else for it to go (the field's own error shows)
        return config.same_origin(endpoint, self.existing.endpoint)

    def _token_hint(self, endpoint: str) -> str:
        ds = self.existing
        if ds and ds.token and not self._keeps_saved_token(endpoint):
            return (
                f"the saved token {secrets.mask(ds.token)} is for {ds.endpoint}: "
                "type the token for this site"
            )
        if ds and ds.token:
            return f"saved token {secrets.mask(ds.token)} is kept when this stays empty"
        return "Cloud: API token (with the e-mail) · Data Center: personal access token"

    def build(self) -> config.Datasource:
        """A Datasource from the form (unvalidated): the same object the CLI builds."""
        base = self.existing or config.Datasource(name="")
        saved = self.existing.token if self.existing else None
        if saved and self.checked("forget_token"):
            saved = None  # back to anonymous access, as `datasource set --token ''`
        if saved and not self._keeps_saved_token(self.value("endpoint")):
            saved = None  # not sent to another site (validate_form says to type one)
        token = self.value("token").strip() or saved
        return dataclasses.replace(
            base,
            name=self.value("name"),
            endpoint=self.value("endpoint"),
            project_key=self.value("project"),
            username=self.value("username").strip() or None,
            token=token,
            cloud_id=self.value("cloud_id").strip() or None,
            jql=self.value("jql").strip() or None,
            interval=self.value("interval"),
            index_comments=self.checked("comments"),
            index_attachments=self.checked("attachments"),
            enabled=self.checked("enabled"),
            sync_enabled=self.checked("sync_enabled"),
        )

    def validate_form(self, only_touched: bool = False) -> config.Datasource | None:
        """Show each field's message; the validated Datasource when all is well."""
        errors: dict[str, str] = {}
        for name in self.FIELDS:
            widget = self.query_one(f"#{name}", Input)
            result = widget.validate(widget.value) if widget.validators else None
            if result is not None and not result.is_valid:
                errors[name] = result.failure_descriptions[0]
        validated = None
        if not errors and self._token_left_behind():
            errors["token"] = (
                f"the saved token is for {self.existing.endpoint}: type the token for "
                f"{self.value('endpoint').strip()}, or tick Forget the saved token"
            )
        if not errors:
            try:
                validated = config.validate_datasource(self.build())
            except ConfigError as exc:
                field, message = field_for_error(str(exc))
                errors[field or "name"] = message
        for name in self.FIELDS:
            shown = not only_touched or name in self._touched
            self.field(name).show_error(errors.get(name) if shown else None)
        if not only_touched:
            self._touched.update(self.FIELDS)
        return validated

    def _token_left_behind(self) -> bool:
        """A saved token the new Site URL does not get, with no token typed and no
        choice of anonymous access: saving would drop it without a word."""
        return (
            self.existing is not None
            and bool(self.existing.token)
            and not self.value("token").strip()
            and not self.checked("forget_token")
            and not self._keeps_saved_token(self.value("endpoint"))
        )

    # ------------------------------------------------------------------ actions

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Ctrl+S saves what the fields hold once they have the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._save_now)

    def _save_now(self) -> None:
        ds = self.validate_form()
        if ds is None:
            self._focus_first_error()
            self._status("Fix the fields marked in red", error=True)
            return
        try:
            saved = config.update_datasource(ds) if self.existing else config.add_datasource(ds)
        except ConfigError as exc:
            field, message = field_for_error(str(exc))
            if field is not None:
                self.field(field).show_error(message)
            self._status(message, error=True)
            return
        self.dismiss(saved)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#test")
    def action_test(self) -> None:
        """Ctrl+T tests what the fields hold once they have the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._test_now)

    def _test_now(self) -> None:
        ds = self.validate_form()
        if ds is None:
            self._focus_first_error()
            self._status("Fix the fields marked in red before testing", error=True)
            return
        self._status(f"Testing {ds.endpoint} …")
        disable_button(self.query_one("#test", Button))
        self._run_test(ds, self._values())

    @work(thread=True, exclusive=True, group="datasource-test", exit_on_error=False)
    def _run_test(self, ds: config.Datasource, values: tuple[str, ...]) -> None:
        worker = get_current_worker()
        try:
            result = test_datasource(ds, self.client_factory)
            ok, line = describe_test(result)
        except Exception as exc:
            ok, line = False, Text(f"✘ {one_line(exc)}", style="red")
        if not worker.is_cancelled:
            self.app.call_from_thread(self._tested, ok, line, values)

    def _tested(self, ok: bool, line: Text, values: tuple[str, ...]) -> None:
        if not self.is_attached:
            return  # the form was closed while the test ran
        enable_button(self.query_one("#test", Button))
        if values != self._values():
            return  # edited while it ran: the answer is about other values
        status = self.query_one("#form-status", Static)
        status.update(line)
        status.set_class(not ok, "-error")
        self._status_for = values

    def _status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#form-status", Static)
        status.update(Text(message))
        status.set_class(error, "-error")
        self._status_for = self._values() if message else None

    def _focus_first_error(self) -> None:
        """Focus the first field in error and bring its message into view: focusing
        scrolls to the input only, and at 80x24 the message under the interval (the
        last field) stayed below the fold with "Fix the fields marked in red"."""
        for name in self.FIELDS:
            field = self.field(name)
            if field.error:
                widget = self.query_one(f"#{name}", Input)
                if not widget.disabled:
                    widget.focus(scroll_visible=False)
                # after the refresh that lays out the message just shown
                self.call_after_refresh(field.scroll_visible, animate=False)
                return


def _check_token(value: str) -> None:
    # The same rule config applies on save (no spaces or control characters).
    config.validate_token(value)  # the CLI's rule


def test_datasource(ds: config.Datasource, client_factory: ClientFactory) -> dict:
    """Who am I, the deployment and project visibility (runs in a worker thread)."""
    client = client_factory(ds)
    try:
        return client.test_connection(ds.project_key)
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()


test_datasource.__test__ = False  # a helper, not a pytest test


class ConfirmScreen(ModalScreen[dict | None]):
    """Yes/no with an optional checkbox; dismisses with {"checked": bool} or None."""

    BINDINGS = [("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen #confirm-dialog {
        width: 70; max-width: 96%; height: auto; border: thick $error;
        background: $surface; padding: 1 2;
    }
    ConfirmScreen #confirm-text { height: auto; margin-bottom: 1; }
    ConfirmScreen Checkbox { margin-bottom: 1; }
    ConfirmScreen #confirm-buttons { height: auto; align: right middle; }
    ConfirmScreen #confirm-buttons Button { margin-left: 1; }
    """

    def __init__(self, text: str, confirm_label: str, checkbox: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.confirm_label = confirm_label
        self.checkbox = checkbox

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Plain(Text(self.text), id="confirm-text")
            if self.checkbox:
                yield Checkbox(self.checkbox, True, id="confirm-check", compact=True)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="no", compact=True)
                yield Button(self.confirm_label, id="yes", variant="error", compact=True)
        yield Footer()  # not the list's keys, which showed through

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        checks = self.query("#confirm-check")
        self.dismiss({"checked": bool(checks) and checks.first(Checkbox).value})

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(None)

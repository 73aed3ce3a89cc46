"""The app shell: modes, keymap remapping from settings.json, help, palette, the
sync contract with the monitor, themes."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, TextArea
from tui_helpers import fill_index, settle

from indexer.paths import settings_path
from tui import keymap
from tui.app import JiradexApp
from tui.messages import SyncsFinished
from tui.screens.help import HelpScreen

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


def write_settings(data: dict) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


async def test_function_keys_switch_modes_and_keep_each_screen():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press(*"pool")
        search_screen = app.screen
        for key, mode in [("f3", "datasources"), ("f5", "tasks"), ("f6", "settings"),
                          ("f4", "sync")]:  # fmt: skip
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
        await pilot.press("f2")
        await pilot.pause()
        assert app.screen is search_screen
        assert app.screen.query_one("#search-box").value == "pool"


async def test_escape_goes_back_to_search_from_every_other_screen():
    """Esc left Tasks for Search but did nothing on Sources, Sync and Settings:
    a keyboard user had to know F2. It now goes home from each (the Settings
    fields do not swallow it)."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        for key in ("f3", "f4", "f5", "f6"):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode != "search"
            await pilot.press("escape")
            await pilot.pause()
            assert app.current_mode == "search", key


async def test_screen_keys_work_from_a_text_editor():
    """TextArea binds f6 (select line): F6 in the instructions box did nothing."""
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.action_import_task("")
        await settle(pilot, app)
        import_screen = app.screen
        editor = import_screen.query_one("#import-instructions", TextArea)
        editor.focus()
        await pilot.press(*"keep it")
        for key, mode in [("f6", "settings"), ("f5", "tasks"), ("f3", "datasources"),
                          ("f5", "tasks"), ("f4", "sync"), ("f5", "tasks"),
                          ("f2", "search"), ("f5", "tasks")]:  # fmt: skip
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode, key
        assert app.screen is import_screen and app.focused is editor
        assert editor.text == "keep it"
        await pilot.press("f7")  # the editor's own keys that no screen uses still work
        assert editor.selected_text == "keep it"


async def test_remapped_screen_keys_in_a_text_editor():
    """A remapped function key wins over the editor's; a printable one is typed."""
    write_settings({"keymap": {"jiradex.go.settings": "f7", "jiradex.go.sync": "f4,z"}})
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.action_import_task("")
        await settle(pilot, app)
        editor = app.screen.query_one("#import-instructions", TextArea)
        editor.focus()
        await pilot.press("z", "f6")
        assert app.current_mode == "tasks"
        assert editor.text == "z" and editor.selected_text == "z"  # f6 selects the line
        await pilot.press("f7")
        await pilot.pause()
        assert app.current_mode == "settings"


async def test_help_lists_every_binding_id():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        ids = {str(table.get_row_at(i)[2]) for i in range(table.row_count)} - {""}
        assert ids == keymap.known_ids()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_help_has_the_search_syntax_one_key_away():
    """The TUI said nothing of the search syntax beyond the box's placeholder: OR,
    parentheses, field filters and dates were in the README only."""
    from textual.widgets import Markdown, TabbedContent

    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        tabs = app.screen.query_one(TabbedContent)
        assert tabs.active == "help-keys"
        await pilot.press("s")
        await pilot.pause()
        assert tabs.active == "help-syntax"
        syntax = app.screen.query_one(Markdown).source
        for example in ("crash OR (hang login)", "status:(Open Done)", "updated:-7d", "-flaky"):
            assert example in syntax
        await pilot.press("k")
        await pilot.pause()
        assert tabs.active == "help-keys"
        assert app.screen.query_one(DataTable).has_focus


async def test_help_fits_the_binding_ids_in_80_columns():
    """At 80 columns the binding-id column was cut (jiradex.go.datasour)."""
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        longest = max(keymap.known_ids(), key=len)
        assert any(str(table.get_row_at(i)[-1]) == longest for i in range(table.row_count))


async def test_a_dialog_leaves_the_screen_behind_it_in_view():
    """The app's `Screen { background }` rule also hit every ModalScreen, so help,
    confirmations and the datasource form stood on a blank screen."""
    import html
    import re

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
        assert "jiradex help" in shown  # the dialog
        assert "4 issues" in shown  # the title bar of the search screen behind it


async def test_keymap_from_settings_remaps_by_id_and_help_shows_it():
    write_settings({"keymap": {"jiradex.app.help": "f9", "jiradex.go.tasks": "f12"}})
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        assert app.current_mode == "tasks"
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        rows = {
            str(table.get_row_at(i)[2]): str(table.get_row_at(i)[0]) for i in range(table.row_count)
        }
        assert rows["jiradex.app.help"] == "f9"


async def test_bad_settings_are_a_warning_not_a_crash():
    write_settings({"keymap": {"jiradex.nope": "f9", "jiradex.go.tasks": 3}})
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        messages = " | ".join(n.message for n in app._notifications)
        assert "unknown binding id 'jiradex.nope'" in messages
        assert "'jiradex.go.tasks' must be a key string" in messages
    settings_path().write_text("{not json", encoding="utf-8")
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("is not valid JSON" in n.message for n in app._notifications)


def test_load_keymap_validates():
    keys, problems = keymap.load_keymap({"keymap": {"jiradex.search.focus": "ctrl+f"}})
    assert keys == {"jiradex.search.focus": "ctrl+f"} and problems == []
    keys, problems = keymap.load_keymap({"keymap": ["x"]})
    assert keys == {} and problems


async def test_command_palette_goes_to_a_screen():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Go to Tasks")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.current_mode == "tasks"


async def test_start_sync_opens_the_monitor_and_returns_home_when_done(monkeypatch):
    from tui.screens import sync_monitor

    started: list[tuple[list[str], bool]] = []
    monkeypatch.setattr(
        sync_monitor.SyncMonitorScreen,
        "start_syncs",
        lambda self, names, full=False: started.append((names, full)),
    )
    app = JiradexApp(start_sync=["demo"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "sync"
        assert started == [(["demo"], False)]
        app.post_message(SyncsFinished([type("S", (), {"status": "ok"})()]))
        await pilot.pause()
        assert app.current_mode == "search"


async def test_a_failed_start_sync_stays_on_the_monitor(monkeypatch):
    from tui.screens import sync_monitor

    monkeypatch.setattr(
        sync_monitor.SyncMonitorScreen, "start_syncs", lambda self, names, full=False: None
    )
    app = JiradexApp(start_sync=["demo"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.post_message(SyncsFinished([type("S", (), {"status": "error"})()]))
        await pilot.pause()
        assert app.current_mode == "sync"  # the error stays visible


async def test_sync_key_without_datasources_explains():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "s")
        await pilot.pause()
        assert app.current_mode == "search"
        assert any("No enabled datasource" in n.message for n in app._notifications)


async def test_theme_choice_is_remembered():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "jiradex"
        app.theme = "nord"
        await pilot.pause()
    assert json.loads(settings_path().read_text())["theme"] == "nord"
    app = JiradexApp()
    async with app.run_test(size=SIZE):
        assert app.theme == "nord"


def _no_blink(app) -> None:
    for box in app.screen.query("Input"):
        box.cursor_blink = False


def test_snapshot_help_screen(snap_compare, monkeypatch):
    from pathlib import Path

    # the help text names the settings file: keep the per-test home out of the picture
    monkeypatch.setattr(
        "indexer.paths.settings_path", lambda: Path("~/.config/jiradex/settings.json")
    )
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        _no_blink(app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)


def test_snapshot_command_palette(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        _no_blink(app)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"go to")
        await pilot.pause(0.5)
        _no_blink(app)

    assert snap_compare(app, terminal_size=(100, 24), run_before=run_before)


async def test_help_has_its_own_footer():
    """Under the help the screen's footer showed through ("i Import as task  o
    Browser …", keys the help ignores), never how to close it."""
    from textual.widgets._footer import FooterKey

    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        keys = {key.description: key for key in app.screen.query(FooterKey)}
        assert "Close" in keys and "Import as task" not in keys
        assert keys["Close"].region.bottom == 24


def _footer_at(screen) -> tuple[set[str], list[str]]:
    """(actions of the footer keys one can read, descriptions of those the command
    palette key covers or the edge cuts)."""
    from textual.widgets._footer import FooterKey

    keys = list(screen.query(FooterKey))
    palette = [key for key in keys if key.has_class("-command-palette")]
    edge = palette[0].region.x if palette else screen.size.width
    keys = [key for key in keys if key not in palette]
    shown = {key.action for key in keys if key.region.right <= edge}
    hidden = [key.description for key in keys if key.region.right > edge]
    return shown, hidden


async def test_every_footer_key_can_be_read_at_80_columns():
    """At 80x24 the search footer ran under the palette key: `d Sources` and `f1 Help`
    could not be read (nor Help on Sources and Sync). With the cursor in the search
    box it showed `/ Search` (a key the box types) and no way to another screen."""
    from tui_helpers import add_datasource

    fill_index()
    add_datasource("work")
    app = JiradexApp()
    footers: dict[str, tuple[set[str], list[str]]] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        footers["search box"] = _footer_at(app.screen)
        await pilot.press("down")
        await settle(pilot, app)
        footers["search results"] = _footer_at(app.screen)
        await pilot.press("enter")
        await settle(pilot, app)
        footers["issue"] = _footer_at(app.screen)
        await pilot.press("escape")
        for key in ("f3", "f4", "f5", "f6"):
            await pilot.press(key)
            await settle(pilot, app)
            footers[app.current_mode] = _footer_at(app.screen)
    for where, (shown, hidden) in footers.items():
        assert not hidden, (where, hidden)
        assert "app.show_help" in shown, where
    screens = {f"app.go('{mode}')" for mode in ("datasources", "sync", "tasks", "settings")}
    assert screens <= footers["search box"][0]
    assert "focus_search" not in footers["search box"][0]
    assert {"app.go('datasources')", "app.go('tasks')", "sync_all"} <= footers["search results"][0]


def test_load_keymap_refuses_keys_that_can_never_be_pressed():
    """ "f5,," or "ctrl+" was taken as it was: the help then listed "f5, ," and the
    binding answered to no key, without a word about it."""
    keys, problems = keymap.load_keymap(
        {
            "keymap": {
                "jiradex.go.tasks": "f5,,",
                "jiradex.go.sync": "ctrl+",
                "jiradex.app.help": ",",
            }
        }
    )
    assert keys == {}
    assert len(problems) == 3
    assert "jiradex.go.tasks" in problems[0] and "'f5,,'" in problems[0]
    keys, problems = keymap.load_keymap({"keymap": {"jiradex.go.tasks": "f5, ctrl+t"}})
    assert keys == {"jiradex.go.tasks": "f5,ctrl+t"} and problems == []


async def test_a_theme_that_cannot_be_remembered_does_not_end_the_app(jiradex_home):
    """With no config directory to be made (a file in its place, a read-only home),
    choosing a theme ended the TUI with a traceback: ensure_dir says so with a
    JiradexError since 9e7c770, which the save (catching OSError) let through."""
    jiradex_home.mkdir(parents=True)
    (jiradex_home / "config").write_text("")
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "nord"
        await pilot.pause()
        assert app.is_running and app.theme == "nord"
    assert app.return_code in (None, 0)


async def test_choosing_a_theme_keeps_a_settings_file_that_could_not_be_read():
    """settings.json with a typo was read as {} (and said so at start); choosing a
    theme then wrote {"theme": …} over it, and the keymap in it was gone."""
    from indexer.paths import ensure_dir, settings_path

    path = settings_path()
    ensure_dir(path.parent)
    broken = '{"keymap": {"jiradex.go.tasks": "ctrl+t",}}\n'  # the trailing comma
    path.write_text(broken, encoding="utf-8")
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "nord"
        await pilot.pause()
        assert app.is_running and app.theme == "nord"
    assert path.read_text(encoding="utf-8") == broken


async def test_an_index_from_an_older_jiradex_is_upgraded_with_a_notification():
    """The upgrade on opening (a minute on a large index) said nothing on screen,
    and the CLI's stderr line must not be written over the TUI."""
    import sqlite3
    from pathlib import Path

    from tui_helpers import wait_for

    from indexer import paths

    fixture = Path(__file__).resolve().parent / "fixtures" / "index" / "schema_v2.sql"
    paths.index_path().parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(paths.index_path())
    conn.executescript(fixture.read_text())
    conn.close()
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: any("Upgrading" in n.message for n in app._notifications))
        [note] = [n.message for n in app._notifications if "Upgrading" in n.message]
        assert note.startswith(f"Upgrading the index at {paths.index_path()} to this version")
        await pilot.press(*"timeout")
        await settle(pilot, app)
        assert [hit.key for hit in app.screen.query_one("#results").hits] == ["ABC-2"]

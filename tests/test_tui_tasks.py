"""Tasks screens: list, import (index and errors), result editor, post, unlink.

Posting goes through indexer.tasks.post_task with an in-memory Jira client put in
place of `poster_client` (no HTTP here; the HTTP path is covered by the cassette
tests of indexer.tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading

import pytest
from concurrently import errors_of_concurrent_calls
from textual.widgets import Checkbox, Input, Markdown, Static, TextArea
from tui_helpers import LaterClock, fill_index, issue, settle, stamp, wait_for

from indexer import tasks as engine
from indexer.tasks import TaskLink, TaskStore
from tui.app import JiradexApp
from tui.screens.tasks import ConfirmScreen, ImportScreen, TaskScreen, TasksScreen

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


class FakeJira:
    """Just what post_task calls."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.comments: list[tuple[str, str]] = []

    def myself(self):
        return {"displayName": "Zoë Ångström", "accountType": "atlassian"}

    def add_comment(self, key, markdown, known=()):
        if self.fail:
            raise self.fail
        self.comments.append((key, markdown))
        return {"id": "9001", "url": f"https://jira.example.com/browse/{key}?c=9001"}

    def find_comment(self, key, markdown, *, exclude=None, after=None):
        return None  # a failed post here never reached Jira

    def close(self):
        pass


def make_task(result: str | None = None) -> int:
    store = TaskStore()
    task = store.create(
        "task",
        "DEV-1: Pool times out under load",
        "Fix the pool.",
        TaskLink("DEV-1", "20001", "work", "https://jira.example.com/browse/DEV-1"),
    )
    if result:
        store.set_result(task.id, result)
    return task.id


def preview_of(screen) -> str:
    """The import preview as shown: its title, its facts and the description."""
    texts = [
        str(widget.render())
        for widget in screen.query("#import-preview-title, #import-preview-facts")
        if widget.display
    ]
    return "\n".join([*texts, screen.query_one("#import-preview-md", Markdown).source])


async def open_tasks(pilot, app):
    await pilot.press("f5")
    await settle(pilot, app)
    assert isinstance(app.screen, TasksScreen)


async def import_from_search(pilot, app, words: str) -> None:
    """Search `words`, step into the results and press i on the first."""
    await settle(pilot, app)
    await pilot.press(*words)
    await settle(pilot, app)
    await pilot.press("down", "i")
    await settle(pilot, app)


async def open_new_import(pilot, app):
    """Tasks › n: the import screen, settled."""
    await open_tasks(pilot, app)
    await pilot.press("n")
    await settle(pilot, app)
    return app.screen


async def open_import(pilot, app, key: str) -> tuple[ImportScreen, Input]:
    """The import screen opened for `key` (settled), and its key box."""
    app.action_import_task(key)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, ImportScreen)
    return screen, screen.query_one("#import-query", Input)


async def test_empty_task_list_says_how_to_start():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tasks(pilot, app)
        assert app.screen.query_one("#tasks-empty").display
        assert "Press n to import" in str(app.screen.query_one("#tasks-empty", Static).render())


async def test_import_from_search_result_creates_a_task_with_instructions():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await import_from_search(pilot, app, "pool")
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        preview = preview_of(screen)
        for fact in ("DEV-1", "Pool times out under load", "In Progress", "High", "Bug",
                     "Zoë Ångström", "db", "connection pool"):  # fmt: skip
            assert fact in preview
        screen.query_one("#import-comments", Checkbox).value = True
        screen.query_one("#import-instructions", TextArea).load_text("Keep it small.")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, TaskScreen)
        [task] = TaskStore().list()
        assert task.link.key == "DEV-1"
        assert "Keep it small." in task.instructions
        assert "Raising the pool size" in task.instructions  # comments included
        assert any("Created T-1 from DEV-1" in n.message for n in app._notifications)


async def test_the_import_preview_shows_the_comments_the_task_will_hold():
    """With "Include comments" ticked the task holds the thread, but the preview
    showed the description alone: what was about to be imported was not shown."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_import(pilot, app, "DEV-1")
        box = screen.query_one("#import-comments", Checkbox)
        box.value = False
        await settle(pilot, app)
        assert "Raising the pool size" not in preview_of(screen)
        box.value = True
        await settle(pilot, app)
        preview = preview_of(screen)
        assert "## Comments" in preview
        assert "### Zoë Ångström" in preview
        assert "Raising the pool size to *128* fixed it here." in preview
        box.value = False
        await settle(pilot, app)
        assert "Raising the pool size" not in preview_of(screen)
        # An issue with no comments in the index of a datasource that does not index
        # them: the task fetches them from Jira, and the preview says so.
        query = screen.query_one("#import-query", Input)
        query.value = "DEV-2"
        query.focus()
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        box.value = True
        await settle(pilot, app)
        preview = preview_of(screen)
        assert "Connection reset by peer" in preview
        assert "fetched from Jira when the task is created" in preview


async def test_an_import_cancelled_goes_back_to_where_it_was_asked_for():
    """i on a search result then Esc left the user on the Tasks list, away from the
    results they were going through; from the Tasks list, Esc stays there."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await import_from_search(pilot, app, "pool")
        assert isinstance(app.screen, ImportScreen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.current_mode == "search"
        assert app.screen.query_one("#search-box", Input).value == "pool"
        await open_tasks(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.current_mode == "tasks" and isinstance(app.screen, TasksScreen)


async def test_the_copy_previewed_of_a_key_two_datasources_hold_is_the_one_imported():
    """The preview showed the newest copy (one kept from a removed datasource) and
    the import then took the configured datasource's: the task was not what was
    read. Both are now the configured one's, and the import is told which."""
    from tui_helpers import add_datasource

    add_datasource("work", project="DEV")
    fill_index(
        [
            issue(1, summary="Pool times out under load"),
            issue(1, datasource="kept", summary="Old copy of the pool issue", updated=stamp(0)),
        ]
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen, _ = await open_import(pilot, app, "DEV-1")
        await wait_for(pilot, lambda: screen.record is not None)
        preview = preview_of(screen)
        assert "Pool times out under load" in preview and "Old copy" not in preview
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        [task] = TaskStore().list()
        assert task.title == "DEV-1: Pool times out under load"
        assert task.link.datasource == "work"


async def test_import_from_search_puts_the_cursor_in_the_instructions():
    """The key box is already filled by `i`: what is left to type is the instructions."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await import_from_search(pilot, app, "pool")
        instructions = app.screen.query_one("#import-instructions", TextArea)
        assert app.focused is instructions
        await pilot.press(*"Be brief")
        assert instructions.text == "Be brief"
        assert app.screen.query_one("#import-query", Input).value == "DEV-1"


async def test_editing_the_key_after_a_preview_never_imports_the_old_issue():
    """Audit: preview AUD-5, edit the box to AUD-6, Ctrl+S created a task from AUD-5."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_import(pilot, app)
        await pilot.press(*"DEV-1", "enter")
        await settle(pilot, app)
        assert "Pool times out" in preview_of(screen)
        assert not screen.query_one("#import-confirm").disabled
        await pilot.press("backspace", "2")
        await settle(pilot, app)
        assert screen.query_one("#import-query", Input).value == "DEV-2"
        assert screen.query_one("#import-confirm").disabled
        assert "Pool times out" not in preview_of(screen)
        hint = str(screen.query_one("#import-error", Static).render())
        assert hint.startswith("Press Enter to look up DEV-2"), hint
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is screen
        assert TaskStore().list() == []
        await pilot.press("enter")
        await settle(pilot, app)
        assert "Connection reset" in preview_of(screen)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        [task] = TaskStore().list()
        assert task.link.key == "DEV-2"


async def test_a_lookup_answering_after_the_key_was_edited_is_dropped():
    """A slow lookup of the old key must not preview it under the new one."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen, box = await open_import(pilot, app, "")
        box.value = "DEV-1"
        await pilot.pause()
        screen._resolve("DEV-1")
        box.value = "DEV-2"  # edited before the worker reports back
        await settle(pilot, app)
        assert screen.record is None
        assert screen.query_one("#import-confirm").disabled
        assert "Pool times out" not in preview_of(screen)


async def test_import_checkboxes_keep_their_label_when_focused():
    """A focused full-size checkbox at height 1 used to grow a border over its label."""
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.action_import_task("")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        for box_id in ("#import-comments", "#import-objective"):
            box = screen.query_one(box_id, Checkbox)
            box.focus()
            await pilot.pause()
            assert box.content_region.height == 1 and box.region.height == 1
        await pilot.press("space")
        assert screen.query_one("#import-objective", Checkbox).value is True


async def test_import_and_task_labels_are_read_whole_at_80x24():
    """At 80 columns the objective checkbox read "Objective (a goal, not a single ta"
    and the editor's label "Result (Markdown, posted as a Jira comme"."""
    from textual.widgets import Label

    make_task()
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.action_import_task("")
        await settle(pilot, app)
        form = app.screen.query_one("#import-form")
        for box in app.screen.query(Checkbox):
            assert box.region.right <= form.content_region.right
        await pilot.press("escape")
        await open_tasks(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TaskScreen)
        pane = app.screen.query_one("#task-result-pane")
        label = pane.query_one(Label)
        assert label.region.right <= pane.content_region.right


async def test_task_buttons_are_read_whole_at_80x24():
    """At 80 columns the third button of the task screen showed as "U": Save, Post to
    Jira and Unlink kept their 16-cell minimum in a 40-cell pane."""
    make_task()
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tasks(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TaskScreen)
        pane = app.screen.query_one("#task-result-pane")
        for button in app.screen.query("#task-buttons Button"):
            assert button.region.right <= pane.content_region.right, button.id


async def test_after_a_failed_create_enter_on_create_task_tries_again(monkeypatch):
    """Create task is disabled while it runs, and Textual moved the focus to Cancel:
    after a failure, Enter pressed again to retry threw the import away."""
    from indexer.errors import JiradexError

    def refuse(*args, **kwargs):
        raise JiradexError("the task database is locked")

    monkeypatch.setattr(engine, "import_task", refuse)
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_import(pilot, app, "DEV-1")
        confirm = screen.query_one("#import-confirm")
        confirm.focus()
        await pilot.press("enter")
        await settle(pilot, app)
        assert "locked" in str(screen.query_one("#import-error", Static).render())
        assert app.focused is confirm
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is screen


async def test_the_import_preview_shows_the_summary_as_written():
    """The import preview rendered "Fix __init__ of Pool<T>" as "Fix init of Pool"."""
    fill_index([issue(1, summary="Fix __init__ of Pool<T>", labels=["snake_case_label"])])
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_import(pilot, app, "DEV-1")
        title = str(screen.query_one("#import-preview-title", Static).render())
        assert title == "DEV-1: Fix __init__ of Pool<T>"
        assert "snake_case_label" in str(screen.query_one("#import-preview-facts").render())


async def test_import_by_typing_a_key_and_searching_words():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_import(pilot, app)
        await pilot.press(*"deploy")
        await settle(pilot, app)
        assert [h.key for h in screen.hits] == ["DEV-2"]
        screen.query_one("#import-query", Input).value = ""
        await pilot.press(*"dev-8", "enter")
        await settle(pilot, app)
        assert "Timeout tuning" in preview_of(screen)
        assert not screen.query_one("#import-confirm").disabled


async def test_a_hit_picked_with_enter_leaves_the_cursor_in_the_instructions():
    """Picking a hit with Enter hid the hit list, which had the focus: the focus went
    nowhere, and the instructions typed next were lost until Tab or a click."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_import(pilot, app)
        await pilot.press(*"deploy")
        await settle(pilot, app)
        await pilot.press("enter")  # into the hit list
        await pilot.press("enter")  # pick DEV-2
        await settle(pilot, app)
        assert screen.record is not None and screen.record["key"] == "DEV-2"
        await pilot.press(*"check")
        assert screen.query_one("#import-instructions", TextArea).text == "check"


async def test_down_from_the_import_box_steps_into_the_hits():
    """On Search, Down in the box steps into the results; in the import box it did
    nothing, and only Enter reached the hit list."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_import(pilot, app)
        await pilot.press(*"deploy")
        await settle(pilot, app)
        await pilot.press("down")
        assert app.focused is screen.query_one("#import-hits")
        await pilot.press("up")  # from the first hit, back to the box
        assert app.focused is screen.query_one("#import-query")
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert screen.record is not None and screen.record["key"] == "DEV-2"


async def test_import_of_an_unknown_key_without_jira_is_one_line():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.action_import_task("NOPE-1")
        await settle(pilot, app)
        screen = app.screen
        message = str(screen.query_one("#import-error", Static).render())
        assert message == (
            "Issue NOPE-1 is not in the index, and no datasource of NOPE or Jira connection "
            "can fetch it"
        )
        assert "\n" not in message
        assert screen.query_one("#import-confirm").disabled
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.current_mode == "search"  # where the import was asked for
        assert TaskStore().list() == []


async def test_a_late_changed_of_the_prefilled_key_keeps_the_not_found_answer():
    """The box's Changed for a prefilled key reaches the screen after its lookup
    started; on a loaded machine after the "not found" too, which it replaced with
    "Press Enter to look up NOPE-1"."""
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        screen, box = await open_import(pilot, app, "NOPE-1")
        box.post_message(Input.Changed(box, box.value))
        await settle(pilot, app)
        message = str(screen.query_one("#import-error", Static).render())
        assert message.startswith("Issue NOPE-1 is not in the index"), message


def test_first_opens_of_the_task_database_from_two_workers(monkeypatch):
    """The list loads twice at once when first shown: two first opens of a new task
    database both found its later columns missing and both added them ("duplicate
    column name"). Here each open waits (a little) for the other after that check."""
    import sqlite3

    from indexer import tasks as engine_tasks
    from tui.screens.tasks import task_store

    both_checked = threading.Barrier(2, timeout=0.5)

    class Connection(sqlite3.Connection):
        def execute(self, sql, *args):
            cursor = super().execute(sql, *args)
            if sql.startswith("PRAGMA table_info"):
                # with the fix the other open waits for this one: the barrier breaks
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_checked.wait()
            return cursor

    real_connect = sqlite3.connect
    monkeypatch.setattr(
        engine_tasks.sqlite3, "connect", lambda *a, **kw: real_connect(*a, factory=Connection, **kw)
    )
    assert errors_of_concurrent_calls(lambda: task_store().list(), 2) == []


async def test_malformed_key_is_refused_before_any_request():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.action_import_task("")
        await settle(pilot, app)
        await pilot.press(*"12-AB", "enter")
        await settle(pilot, app)
        assert app.screen.record is None


async def test_list_opens_detail_and_result_is_saved():
    task_id = make_task()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tasks(pilot, app)
        assert app.screen.query_one("#tasks-table").row_count == 1
        await pilot.press("enter")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, TaskScreen)
        assert str(screen.query_one("#task-badge").label) == "DEV-1"
        screen.query_one("#task-result", TextArea).load_text("## Done\n\nPool size raised.")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert TaskStore().get(task_id).result == "## Done\n\nPool size raised."
        assert not screen.dirty


async def test_task_list_fits_the_terminal_after_a_resize():
    """The title column was sized for the first width: after shrinking to 80
    columns the titles ran under the edge and Created was out of sight; after
    growing they stayed cut."""
    store = TaskStore()
    title = "DEV-1: Pool times out under load when more than sixty-four clients connect at once"
    store.create("task", title, "Fix.", TaskLink("DEV-1", "20001", "work", "https://j/DEV-1"))
    app = JiradexApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tasks(pilot, app)
        table = app.screen.query_one("#tasks-table")
        assert table.row_count == 1
        await pilot.resize_terminal(80, 24)
        await wait_for(
            pilot, lambda: table.virtual_size.width <= table.scrollable_content_region.width
        )
        assert str(table.get_cell_at((0, 4))).endswith("…")
        await pilot.resize_terminal(200, 30)
        await wait_for(pilot, lambda: str(table.get_cell_at((0, 4))) == title)


async def test_post_without_jira_shows_the_engine_message():
    make_task("A result")
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tasks(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        error = str(app.screen.query_one("#task-error", Static).render())
        assert error.startswith("Jira integration not enabled")
        assert any(n.severity == "error" for n in app._notifications)


async def test_post_success_then_again_asks_first(monkeypatch):
    task_id = make_task("The fix")
    jira = FakeJira()
    monkeypatch.setattr(engine, "poster_client", lambda link: (jira, False))
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.go("tasks")
        await settle(pilot, app)
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        assert jira.comments == [("DEV-1", "The fix")]
        assert any("Posted as Zoë Ångström" in n.message for n in app._notifications)
        assert app.screen.current_task.state == "posted"
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one(Static).render())
        assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC \((just now|\d+m ago)\)", question)
        await pilot.press("enter")  # Cancel has the focus: Enter is the safe answer
        await settle(pilot, app)
        assert len(jira.comments) == 1
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        await pilot.press("y")  # y confirms without reaching for the button
        await settle(pilot, app)
        assert len(jira.comments) == 2


async def test_failed_post_keeps_result_and_shows_one_line(monkeypatch):
    from indexer.jira.errors import JiraError

    task_id = make_task("The fix")
    monkeypatch.setattr(
        engine, "poster_client", lambda link: (FakeJira(JiraError("Jira said 500")), False)
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        error = str(app.screen.query_one("#task-error", Static).render())
        assert "failed, the result is kept: Jira said 500" in error
        assert TaskStore().get(task_id).state == "failed"


async def test_unlink_after_confirmation():
    task_id = make_task()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm-yes")
        await settle(pilot, app)
        assert TaskStore().get(task_id).unlinked
        assert app.screen.query_one("#task-post").disabled
        assert "(unlinked)" in str(app.screen.query_one("#task-badge").label)


async def test_an_unlinked_task_offers_neither_post_nor_unlink():
    """The footer still showed ^t Post to Jira and ^l Unlink, which only gave errors."""
    task_id = make_task("A result")
    TaskStore().unlink(task_id)
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        screen = app.screen
        assert screen.current_task.unlinked
        footer_keys = {b.binding.action for b in screen.active_bindings.values()}
        assert "save" in footer_keys
        assert "post" not in footer_keys and "unlink" not in footer_keys
        await pilot.press("ctrl+t", "ctrl+l")
        await settle(pilot, app)
        assert app.screen is screen
        assert not any(n.severity == "error" for n in app._notifications)
        assert str(screen.query_one("#task-error", Static).render()) == ""


# ---------------------------------------------------------------------- snapshots


def test_snapshot_task_list(snap_compare):
    make_task()
    make_task("Done")
    app = JiradexApp()

    async def run_before(pilot):
        await open_tasks(pilot, app)

    assert snap_compare(app, terminal_size=(110, 24), run_before=run_before)


def test_snapshot_task_detail(snap_compare):
    task_id = make_task("## Result\n\nPool size raised to 128.")
    app = JiradexApp()

    async def run_before(pilot):
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        editor = app.screen.query_one("#task-result", TextArea)
        assert app.focused is editor
        # A blinking cursor's phase depends on timing: snapshot without focus.
        editor.cursor_blink = False
        app.screen.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)


def test_snapshot_import_preview(snap_compare):
    fill_index()
    app = JiradexApp()

    async def run_before(pilot):
        from textual.widgets._markdown import MarkdownBlock

        app.action_import_task("DEV-1")
        await settle(pilot, app)
        # The preview's Markdown builds its blocks after its text is set: on a loaded
        # machine the snapshot was taken before (CI failed on it once).
        preview = app.screen.query_one("#import-preview-md", Markdown)
        await wait_for(pilot, lambda: "DEV-1" in preview_of(app.screen))
        await wait_for(pilot, lambda: "connection pool" in preview.source)
        await wait_for(pilot, lambda: len(preview.query(MarkdownBlock)) >= 1)
        await pilot.pause()
        for box in app.screen.query(Input):
            box.cursor_blink = False
        for area in app.screen.query(TextArea):
            area.cursor_blink = False
            # The blink may have hidden the cursor a moment ago: that toggle does not
            # repaint, so the snapshot could keep the frame without it.
            area._cursor_visible = area.has_focus
            area.refresh()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)


@pytest.mark.parametrize("leave", ["ctrl+q", "f2 then ctrl+q"])
async def test_a_result_typed_and_not_saved_is_kept_when_the_app_quits(leave):
    """Esc saved the editor, but Ctrl-Q (from the task, or from another screen while the
    task stayed open) threw the typed result away without a word."""
    task_id = make_task()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tasks(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TaskScreen)
        await pilot.press(*"an hour of work")
        assert app.screen.dirty
        for key in leave.split(" then "):
            await pilot.press(key)
            await pilot.pause()
    assert TaskStore().get(task_id).result == "an hour of work"


async def test_task_ages_keep_up_with_the_clock(monkeypatch):
    """The task list's Created column and the task's "created just now" were worked
    out when read only: left open, they said "now" for hours."""
    import tui.screens.tasks as tasks_module

    monkeypatch.setattr(tasks_module, "AGE_TICK_S", 0.05)
    make_task()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await open_tasks(pilot, app)
        table = app.screen.query_one("#tasks-table")
        assert str(table.get_row_at(0)[-1]) == "now"
        clock = LaterClock(monkeypatch)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[-1]) == "10m")
        await pilot.press("enter")
        await settle(pilot, app)
        facts = app.screen.query_one("#task-facts", Static)
        assert "created 10m ago" in str(facts.render())
        clock.advance(10)
        await wait_for(pilot, lambda: "created 20m ago" in str(facts.render()))


async def test_the_age_tick_leaves_a_scrolled_task_list_where_it_was(monkeypatch):
    """Every 30 s the list was built again to update its ages: scrolled (wheel or
    scrollbar) away from the cursor, it jumped back to the top."""
    import tui.screens.tasks as tasks_module

    monkeypatch.setattr(tasks_module, "AGE_TICK_S", 0.05)
    for _ in range(40):
        make_task()
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tasks(pilot, app)
        table = app.screen.query_one("#tasks-table")
        table.scroll_to(y=20, animate=False)  # the cursor stays on the first row
        LaterClock(monkeypatch)
        await wait_for(pilot, lambda: str(table.get_row_at(39)[-1]) == "10m")
        await pilot.pause()
        assert table.scroll_y == 20 and table.cursor_row == 0


async def test_the_post_again_question_has_its_own_footer(monkeypatch):
    """Under the "post again?" question the task screen's footer showed through
    (^s Save result, ^t Post to Jira …), keys the question ignores."""
    from textual.widgets._footer import FooterKey

    task_id = make_task("The fix")
    jira = FakeJira()
    monkeypatch.setattr(engine, "poster_client", lambda link: (jira, False))
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.go("tasks")
        await settle(pilot, app)
        app.push_screen(TaskScreen(task_id))
        await settle(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        keys = {key.description: key.key for key in app.screen.query(FooterKey)}
        assert keys.get("Post again") == "y" and keys.get("Cancel") == "escape"
        assert "Save result" not in keys and "Post to Jira" not in keys


async def test_a_long_description_is_previewed_at_once_and_in_parts(monkeypatch):
    """An issue with a long description took 1.5 s to show in the import preview:
    Textual builds a widget per Markdown block, and the facts were a Markdown list.
    The title and facts are two texts, the description's first part shows at once and
    the rest is added after it, one part per frame."""
    import tui.screens.issue as issue_module

    description = "\n\n".join(f"Paragraph {n}: the pool **still** times out." for n in range(200))
    fill_index([issue(1, summary="Pool times out", description=description)])
    frames = asyncio.Event()  # the screen's frames, held until the test lets them go

    async def next_frame(node) -> None:
        await frames.wait()

    monkeypatch.setattr(issue_module, "next_paint", next_frame, raising=False)
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.action_import_task("DEV-1")  # not open_import: it waits for every frame
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.query("#import-preview-md"))
        markdown = screen.query_one("#import-preview-md", Markdown)
        await wait_for(pilot, lambda: "Paragraph 0:" in markdown.source)
        await pilot.pause(0.1)
        assert "Paragraph 199" not in markdown.source  # only the first part, at first
        title = screen.query_one("#import-preview-title", Static)
        assert str(title.render()) == "DEV-1: Pool times out" and title.region.height
        assert "• Status: Open" in str(screen.query_one("#import-preview-facts").render())
        frames.set()
        await settle(pilot, app)
        assert markdown.source == description

"""Keys typed faster than the app handles them: a key that moves the focus must move
it before the keys behind it are handed out, or those land in the widget it left."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_helpers import add_datasource, burst, fill_index, issue, settle, wait_for

from indexer import config
from tui.app import JiradexApp
from tui.screens.issue import IssueScreen
from tui.screens.tasks import ImportScreen
from tui.widgets.datasource_form import DatasourceFormScreen
from tui.widgets.results import ResultsTable

pytestmark = pytest.mark.anyio


async def test_tab_typed_fast_moves_to_the_next_field_before_the_next_letters():
    """Auto-typed "name<Tab>url" put everything in the Name field."""
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.go("datasources")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasourceFormScreen))
        form = app.screen
        await wait_for(pilot, lambda: app.focused is form.query_one("#name"))
        burst(app, *"fj", "tab", *"http://jira", "tab", *"FJ", "shift+tab", "shift+tab")
        await wait_for(pilot, lambda: app.focused is form.query_one("#name"))
        await pilot.pause()
        assert form.value("name") == "fj"
        assert form.value("endpoint") == "http://jira"
        assert form.value("project") == "FJ"


async def results_focused(pilot, app):
    """The search screen of the sample index, the cursor in its results."""
    await settle(pilot, app)
    await pilot.press("down")
    table = app.screen.query_one(ResultsTable)
    await wait_for(pilot, lambda: table.has_focus)
    return table


async def test_down_down_enter_typed_fast_opens_the_second_result():
    """The first Down moved into the list later than the keys behind it were handed to
    the box: the second Down did nothing and Enter went to the box."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        hits = app.screen.query_one(ResultsTable).hits
        burst(app, "down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
        assert app.screen.key == hits[1].key


@pytest.mark.parametrize("back", ["slash", "escape", "up"])
async def test_letters_typed_right_after_leaving_the_results_go_into_the_box(back):
    """ "/tide" typed fast from the list: the letters went to the list, where t opened
    Tasks, i the import form and d the Datasources."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await results_focused(pilot, app)
        search = app.screen
        burst(app, back, *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide" or app.screen is not search)
        await settle(pilot, app)
        assert app.current_mode == "search" and app.screen is search
        assert box.value == "tide" and box.has_focus


async def test_down_down_enter_typed_fast_in_the_import_box_picks_the_second_hit():
    """Enter went to the box (which only stepped into the hits) or to the first hit."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        app.action_import_task()
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        screen = app.screen
        await wait_for(pilot, lambda: app.focused is screen.query_one("#import-query"))
        await pilot.press(*"description")
        await settle(pilot, app)
        assert len(screen.hits) >= 2
        burst(app, "down", "down", "enter")
        await wait_for(pilot, lambda: screen.record is not None)
        assert screen.record["key"] == screen.hits[1].key


async def test_keys_typed_right_after_enter_in_the_results_go_to_the_issue():
    """The issue opened once the results had handled Enter, after the keys behind it
    were handed out: "Enter Down Down" moved the results' cursor two rows."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await results_focused(pilot, app)
        burst(app, "enter", "down", "down")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
        await settle(pilot, app)
        assert app.screen.key == table.hits[0].key
        assert table.cursor_row == 0


async def test_a_query_and_enter_typed_fast_open_a_result_of_that_query():
    """Enter, handled as it arrived, overtook the letters the box had not typed in
    yet: "pool<Enter>" typed fast stepped into the recent issues with an empty box."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        search = app.screen
        burst(app, *"pool", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
        await settle(pilot, app)
        assert search.query_one("#search-box", Input).value == "pool"
        assert app.screen.key == "DEV-1"  # the one issue about a pool


@pytest.mark.parametrize("back", ["escape", "q"])
async def test_keys_typed_right_after_leaving_an_issue_go_to_the_search(back):
    """ "q/tide" typed fast on an issue: the / was lost on the issue and the letters
    reached the results, where t opened Tasks."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await results_focused(pilot, app)
        search = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
        await settle(pilot, app)
        burst(app, back, "slash", *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide" or app.current_mode != "search")
        await settle(pilot, app)
        assert app.current_mode == "search" and app.screen is search
        assert box.value == "tide" and search.focused is box


async def test_end_typed_right_after_tab_into_a_filled_field_adds_to_its_text():
    """Tab selects a field's text; "End X" typed fast replaced it with "X", for End
    moved the cursor only once the X was typed over the selection."""
    add_datasource("work", project="DEMO")
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.go("datasources")
        await wait_for(pilot, lambda: app.screen.query("DataTable"))
        await pilot.pause()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasourceFormScreen))
        form = app.screen
        await wait_for(pilot, lambda: app.focused is form.query_one("#endpoint"))
        burst(app, "tab", "end", *"X", "shift+tab", "home", *"x")
        await wait_for(pilot, lambda: form.value("endpoint").startswith("x"))
        await pilot.pause()
        assert form.value("project") == "DEMOX"
        assert form.value("endpoint") == "xhttps://example.atlassian.net"


async def test_end_typed_right_after_tab_in_the_settings_adds_to_the_text():
    config.save_jira_connection(
        config.JiraConnection(enabled=True, base_url="https://acme.atlassian.net", email="me@x.io")
    )
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.go("settings")
        await wait_for(pilot, lambda: app.screen.query("#email"))
        screen = app.screen
        email = screen.query_one("#email", Input)
        await wait_for(pilot, lambda: email.value == "me@x.io")
        screen.set_focus(screen.query_one("#base_url", Input))
        await pilot.pause()
        burst(app, "tab", "end", *".uk")
        await wait_for(pilot, lambda: email.value.endswith("k"))
        assert email.value == "me@x.io.uk"


@pytest.mark.parametrize("field", ["search", "instructions"])
async def test_backspace_typed_fast_among_letters_deletes_the_letter_before_it(field):
    """ "abc Backspace d" typed fast left "abc": the d went in before Backspace ran."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        if field == "instructions":
            app.action_import_task("DEV-1")
            await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
            await settle(pilot, app)
            app.screen.set_focus(app.screen.query_one("#import-instructions"))
            await pilot.pause()
        box = app.focused
        burst(app, *"abc", "backspace", "d")
        text = (lambda: box.value) if field == "search" else (lambda: box.text)
        await wait_for(pilot, lambda: "d" in text())
        await pilot.pause()
        assert text() == "abd"


async def test_keys_typed_right_after_enter_on_a_task_go_to_the_task():
    """The task opened once the list had handled Enter: "Enter n…" typed fast (the
    start of a result) sent the n to the list, which opened the import form."""
    from indexer.tasks import TaskLink, TaskStore
    from tui.screens.tasks import TaskScreen, TasksScreen

    store = TaskStore()
    ids = [
        store.create("task", f"DEV-{n}: task {n}", "", TaskLink(f"DEV-{n}", str(n), "work", ""))
        for n in (1, 2, 3)
    ]
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.go("tasks")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
        tasks = app.screen
        await wait_for(pilot, lambda: len(tasks.tasks) == 3 and tasks.focused is not None)
        burst(app, "down", "enter", *"nr")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        await settle(pilot, app)
        assert not any(isinstance(s, ImportScreen) for s in app.screen_stack)
        assert isinstance(app.screen, TaskScreen)
        assert app.screen.task_id == tasks.tasks[1].id == ids[1].id  # newest first: 3, 2, 1


@pytest.mark.parametrize("close", ["escape", "q", "f1"])
async def test_letters_typed_right_after_closing_the_help_go_into_the_box(close):
    """The help closed once its widget had handled the key: the letters behind it
    reached the search screen's bindings, not its box, and t opened Tasks."""
    from tui.screens.help import HelpScreen

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        search = app.screen
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await settle(pilot, app)
        burst(app, close, *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide" or app.current_mode != "search")
        await settle(pilot, app)
        assert app.current_mode == "search" and app.screen is search
        assert box.value == "tide"


async def test_scroll_keys_typed_before_q_scroll_the_issue_not_the_results():
    """q, handled as it arrives, overtook the Downs typed before it: the issue closed
    first and the Downs moved the results' cursor."""
    long = "\n\n".join(f"Paragraph {n} of a long description." for n in range(80))
    fill_index([issue(n, description=long, description_text=long) for n in (1, 2, 3, 4)])
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await results_focused(pilot, app)
        search = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
        await settle(pilot, app)
        scrolled: list[float] = []
        scroll = app.screen.query_one("#issue-scroll")
        original = scroll.action_scroll_down

        def scroll_down() -> None:
            original()
            scrolled.append(scroll.scroll_target_y)

        scroll.action_scroll_down = scroll_down
        burst(app, "down", "down", "down", "q")
        await wait_for(pilot, lambda: app.screen is search)
        await settle(pilot, app)
        assert table.cursor_row == 0
        assert len(scrolled) == 3


# ---------------------------------------------------------------------- type-ahead
# Letters typed right behind the key that opens a screen belong to that screen's
# first field: they arrived before the new screen had its focus, and were dropped.


async def test_letters_typed_right_after_n_on_the_tasks_go_into_the_import_box():
    from tui.screens.tasks import TasksScreen

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.go("tasks")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
        await settle(pilot, app)
        burst(app, "n", *"DEV-1")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        box = app.screen.query_one("#import-query", Input)
        await wait_for(pilot, lambda: box.value == "DEV-1", timeout=3)
        await settle(pilot, app)
        assert box.value == "DEV-1" and app.focused is box


async def test_letters_typed_right_after_a_on_the_datasources_go_into_the_form():
    add_datasource("work", project="DEMO")
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.go("datasources")
        await wait_for(pilot, lambda: app.screen.query("DataTable"))
        await settle(pilot, app)
        burst(app, "a", *"fj", "tab", *"http://jira")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasourceFormScreen))
        form = app.screen
        await wait_for(pilot, lambda: form.query("#endpoint"))
        await wait_for(pilot, lambda: form.value("endpoint") == "http://jira", timeout=3)
        assert form.value("name") == "fj"


async def test_a_paste_right_after_a_on_the_datasources_goes_into_the_form_in_its_place():
    """A paste (bracketed: one event, not keys) typed fast behind `a` went to the list
    being left, while the letters typed around it were held for the form's field:
    "my", a paste of "-jira", "!" gave the name "my!"."""
    from textual import events

    add_datasource("work", project="DEMO")
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.go("datasources")
        await wait_for(pilot, lambda: app.screen.query("DataTable"))
        await settle(pilot, app)
        burst(app, "a", *"my")
        paste = events.Paste("-jira")
        paste.set_sender(app)
        app._driver.send_message(paste)
        burst(app, "!", "tab", *"http://jira")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasourceFormScreen))
        form = app.screen
        await wait_for(pilot, lambda: form.query("#endpoint"))
        await wait_for(pilot, lambda: form.value("endpoint") == "http://jira", timeout=3)
        assert form.value("name") == "my-jira!"


@pytest.mark.parametrize("mode", ["tasks", "datasources", "sync"])
async def test_letters_typed_right_after_esc_on_a_list_go_into_the_search_box(mode):
    """Esc on the tasks, datasources or sync screen goes back to the search box: the
    letters typed behind it went to the list being left."""
    fill_index()
    add_datasource("work")
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        search = app.screen
        app.go(mode)
        await wait_for(pilot, lambda: app.current_mode == mode)
        await settle(pilot, app)
        burst(app, "escape", *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide", timeout=3)
        await settle(pilot, app)
        assert app.screen is search and box.value == "tide"


@pytest.mark.parametrize("where", ["results", "issue"])
async def test_words_typed_right_after_i_go_into_the_instructions(where):
    """i on a result opens the import form with the key filled in and the cursor in
    the instructions: "ifix it" typed fast lost the words (or sent them to the list)."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await results_focused(pilot, app)
        if where == "issue":
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen))
            await settle(pilot, app)
        burst(app, "i", *"fix it")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        editor = app.screen.query_one("#import-instructions")
        await wait_for(pilot, lambda: editor.text == "fix it", timeout=3)
        await settle(pilot, app)
        assert app.current_mode == "tasks" and isinstance(app.screen, ImportScreen)
        assert editor.text == "fix it"


async def test_letters_typed_right_after_f6_go_into_the_site_url():
    """F6 from the search box: the letters went into the search box, left behind."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        search = app.screen
        burst(app, "f6", *"https://x.io")
        await wait_for(pilot, lambda: app.screen.query("#base_url"))
        site = app.screen.query_one("#base_url", Input)
        await wait_for(pilot, lambda: site.value == "https://x.io", timeout=3)
        assert search.query_one("#search-box", Input).value == ""


# Letters typed right behind the Esc that closes a form belong to the screen it goes
# back to: they were typed into the form being closed.


async def test_letters_typed_right_after_esc_on_the_import_form_go_into_the_search_box():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        search = app.screen
        app.action_import_task()
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        form = app.screen
        await wait_for(pilot, lambda: app.focused is form.query_one("#import-query"))
        await pilot.press(*"DEV-1")
        instructions = form.query_one("#import-instructions")
        app.set_focus(instructions)
        await settle(pilot, app)
        burst(app, "escape", *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide", timeout=3)
        await settle(pilot, app)
        assert app.current_mode == "search" and app.screen is search
        assert instructions.text == ""


async def test_letters_typed_right_after_esc_on_the_settings_go_into_the_search_box():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        search = app.screen
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.screen.query("#base_url"))
        settings = app.screen
        site = settings.query_one("#base_url", Input)
        await wait_for(pilot, lambda: app.focused is site)
        await settle(pilot, app)
        burst(app, "escape", *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide", timeout=3)
        await settle(pilot, app)
        assert site.value == ""


async def test_letters_typed_right_after_esc_on_a_task_are_not_saved_as_its_result():
    """Esc saves a changed result as it closes the task: "Esc tide" typed fast saved
    "tide", typed into the editor of the task being closed."""
    from indexer.tasks import TaskLink, TaskStore
    from tui.screens.tasks import TaskScreen, TasksScreen

    store = TaskStore()
    made = store.create("task", "DEV-1: task 1", "", TaskLink("DEV-1", "1", "work", ""))
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.go("tasks")
        await wait_for(pilot, lambda: isinstance(app.screen, TasksScreen))
        tasks = app.screen
        await wait_for(pilot, lambda: len(tasks.tasks) == 1 and tasks.focused is not None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        task = app.screen
        await wait_for(pilot, lambda: task.current_task is not None)
        await settle(pilot, app)
        burst(app, "escape", *"tide")
        await wait_for(pilot, lambda: app.screen is tasks)
        await settle(pilot, app)
        assert not (TaskStore().get(made.id).result or "")


async def import_form_ready(pilot, app, key: str):
    """The import form opened for `key`, its issue previewed and the cursor in its
    instructions: (the form, the instructions editor)."""
    await settle(pilot, app)
    app.action_import_task(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
    form = app.screen
    await wait_for(pilot, lambda: form.record is not None)
    instructions = form.query_one("#import-instructions")
    await wait_for(pilot, lambda: app.focused is instructions)
    await settle(pilot, app)
    return form, instructions


async def test_words_typed_right_after_ctrl_s_on_the_import_form_go_into_the_result():
    """Ctrl+S creates the task and opens it, its result editor focused: the words
    typed behind Ctrl+S went into the import form's instructions, already sent."""
    from tui.screens.tasks import TaskScreen

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        form, instructions = await import_form_ready(pilot, app, "DEV-1")
        burst(app, "ctrl+s", *"Done")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        task = app.screen
        await wait_for(pilot, lambda: task.current_task is not None)
        editor = task.query_one("#task-result")
        await wait_for(pilot, lambda: editor.text == "Done", timeout=3)
        await settle(pilot, app)
        assert editor.text == "Done" and instructions.text == ""
        assert "Done" not in task.current_task.instructions


async def test_ctrl_s_typed_right_after_a_result_saves_all_of_it():
    """Ctrl+S runs as it arrives (a priority key), before the editor has typed in the
    letters queued ahead of it: "…done<Ctrl+S>" typed fast saved the result without
    its last letters."""
    from indexer.tasks import TaskLink, TaskStore
    from tui.screens.tasks import TaskScreen

    store = TaskStore()
    task = store.create("task", "DEV-1: task", "", TaskLink("DEV-1", "1", "work", ""))
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(TaskScreen(task.id))
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        await settle(pilot, app)
        editor = app.screen.query_one("#task-result")
        editor.focus()
        await pilot.pause()
        burst(app, *"Fixed the pool", "ctrl+s")
        await wait_for(pilot, lambda: (TaskStore().get(task.id).result or "") != "")
        await settle(pilot, app)
        assert TaskStore().get(task.id).result == "Fixed the pool"


async def test_ctrl_s_typed_right_after_the_fields_saves_what_was_typed():
    """The datasource form saved (or refused) the values as they were when Ctrl+S
    arrived, before the fields had the letters typed ahead of it."""
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.go("datasources")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasourceFormScreen))
        form = app.screen
        await wait_for(pilot, lambda: app.focused is form.query_one("#name"))
        burst(app, *"fast", "tab", *"https://jira.example.com", "tab", *"FAST", "ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, DatasourceFormScreen))
        [ds] = config.load_datasources()
        assert (ds.name, ds.endpoint, ds.project_key) == (
            "fast", "https://jira.example.com", "FAST"
        )  # fmt: skip


async def test_keys_typed_right_after_enter_in_the_box_go_to_the_issue_it_opens():
    """Enter in the box waits for the search on its way, then opens its top result:
    "pool<Enter>zz" typed fast put "zz" in the box, which cancelled the open (the
    results of "poolzz" were not what Enter was for)."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        search = app.screen
        burst(app, *"pool", "enter", *"zz")
        await wait_for(pilot, lambda: isinstance(app.screen, IssueScreen), timeout=3)
        await settle(pilot, app)
        assert search.query_one("#search-box", Input).value == "pool"
        assert app.screen.key == "DEV-1"


async def test_keys_held_behind_ctrl_s_go_back_to_the_form_when_the_import_breaks(
    monkeypatch,
):
    """A task import that broke (a bug, not a refusal) kept the keys typed behind
    Ctrl+S held until the hold's time limit."""
    from indexer import tasks as engine
    from tui import typeahead

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "import_task", broken)
    monkeypatch.setattr(typeahead, "HOLD_LIMIT_S", 600.0)  # only a release ends it
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(120, 36)) as pilot:
        form, instructions = await import_form_ready(pilot, app, "DEV-1")
        burst(app, "ctrl+s", *"xy")
        await wait_for(pilot, lambda: instructions.text == "xy", timeout=5)
        assert app.screen is form
        assert not form.query_one("#import-confirm").disabled


async def test_keys_held_while_a_task_loads_are_handed_out_when_the_load_breaks(
    monkeypatch,
):
    """A task screen whose load broke (a bug, not a refusal) kept the keys typed
    meanwhile held until the hold's time limit."""
    from indexer.tasks import TaskLink, TaskStore
    from tui import typeahead
    from tui.screens import tasks as task_screens
    from tui.screens.tasks import TaskScreen

    task = TaskStore().create("task", "DEV-1: task", "", TaskLink("DEV-1", "1", "work", ""))

    class Broken:
        def get(self, task_id):
            raise RuntimeError("boom")

    monkeypatch.setattr(typeahead, "HOLD_LIMIT_S", 600.0)  # only a release ends it
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        search = app.screen
        monkeypatch.setattr(task_screens, "task_store", lambda: Broken())
        app.push_screen(TaskScreen(task.id))
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        burst(app, "escape", *"tide")
        box = search.query_one("#search-box", Input)
        await wait_for(pilot, lambda: box.value == "tide", timeout=5)

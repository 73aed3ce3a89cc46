"""Search screen: typing, results, preview, issue detail, empty states, errors."""

from __future__ import annotations

import asyncio
import webbrowser

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import Input, Markdown, Static
from tui_helpers import LaterClock, add_datasource, fill_index, issue, settle, wait_for

from indexer.store import Store
from tui.app import JiradexApp
from tui.screens.datasources import DatasourcesScreen
from tui.screens.issue import IssueScreen
from tui.screens.search import SearchScreen
from tui.widgets.datasource_form import DatasourceFormScreen
from tui.widgets.preview import IssuePreview
from tui.widgets.results import ResultsTable

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


async def type_query(pilot, app, text: str) -> None:
    box = app.screen.query_one("#search-box", Input)
    box.value = ""
    await pilot.press(*text) if text else None
    await settle(pilot, app)


def status_of(app) -> str:
    return str(app.screen.query_one("#status", Static).render())


async def test_typing_shows_ranked_results_and_preview():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert isinstance(app.screen, SearchScreen)
        assert app.focused.id == "search-box"
        await type_query(pilot, app, "timeout")
        table = app.screen.query_one(ResultsTable)
        keys = [hit.key for hit in table.hits]
        assert keys[0] == "DEV-8"  # "timeout" in the summary ranks first
        assert set(keys) == {"DEV-1", "DEV-8"}  # DEV-1 by its description
        assert "DEV-2" not in keys
        assert status_of(app).startswith(f"{len(keys)} result")
        preview = app.screen.query_one(IssuePreview).plain
        assert "DEV-8" in preview and "Timeout tuning for the gateway" in preview


async def test_the_preview_says_just_now_for_an_issue_updated_this_minute():
    """The preview of an issue updated less than a minute ago read "Updated now ago"."""
    from datetime import UTC, datetime

    just_now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # not the module's NOW
    fill_index([issue(1, summary="Fresh from the sync", updated=just_now)])
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "fresh")
        preview = app.screen.query_one(IssuePreview).plain
        assert "Updated just now · work" in preview
        assert "now ago" not in preview


async def test_empty_box_lists_recent_issues_newest_first():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        keys = [hit.key for hit in app.screen.query_one(ResultsTable).hits]
        assert keys == ["DEV-1", "DEV-2", "DEV-3", "DEV-8"]
        assert "Recently updated" in status_of(app)


async def test_the_issue_detail_shows_summary_and_fields_as_written():
    """Plain Jira fields went into the detail's Markdown as they were: "Fix *args in
    __init__ of Pool<T>" showed as "Fix *args in init of Pool" (the underscores read
    as bold, <T> as HTML), and a label snake_case_label lost its underscores."""
    from textual.widgets._markdown import MarkdownBlock

    summary = "Fix *args and **kwargs in __init__ of Pool<T> [draft] & co"
    fill_index(
        [
            issue(
                1,
                summary=summary,
                labels=["snake_case_label"],
                components=["api_*core*"],
                assignee="__bot__",
                attachments=[
                    {"id": "a1", "filename": "dump_<1>_.log", "mimetype": "text/plain", "size": 10}
                ],
            )
        ]
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-1"))
        await settle(pilot, app)
        screen = app.screen
        shown = "\n".join(
            [
                str(screen.query_one("#issue-title", Static).render()),
                str(screen.query_one("#issue-facts", Static).render()),
                *(str(block._content) for block in screen.query(MarkdownBlock)),
            ]
        )
        assert f"DEV-1: {summary}" in shown
        for text in ("snake_case_label", "api_*core*", "__bot__", "dump_<1>_.log"):
            assert text in shown, text


async def test_enter_opens_issue_detail_with_markdown_and_escape_returns():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "pool")
        await pilot.press("enter")  # from the box: opens the highlighted (first) result
        await settle(pilot, app)
        assert isinstance(app.screen, IssueScreen)
        markdown = app.screen.query_one("#issue-markdown", Markdown)
        assert "connection pool" in markdown.source
        assert "Raising the pool size" in markdown.source  # comments are shown
        await pilot.press("escape")
        assert isinstance(app.screen, SearchScreen)
        assert app.focused.id == "search-box"
        await pilot.press("down")  # Down steps into the results, where Enter opens too
        assert isinstance(app.focused, ResultsTable)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, IssueScreen)


async def test_enter_right_after_typing_opens_a_result_of_the_new_words():
    """Enter before the search answered must not open a result of the old words."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "deploy")
        assert [hit.key for hit in app.screen.query_one(ResultsTable).hits] == ["DEV-2"]
        app.screen.query_one("#search-box", Input).value = "tuning"
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, IssueScreen)
        assert app.screen.key == "DEV-8"


async def test_enter_before_the_answer_still_opens_when_a_sync_reruns_the_search(monkeypatch):
    """A sync writing (IndexUpdated) between Enter and the answer started the search
    again, and the Enter waiting for the first answer was forgotten."""
    import threading

    import indexer.search

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.screen
        answer = threading.Event()
        search = indexer.search.search

        def slow_search(*args, **kwargs):
            answer.wait(10)
            return search(*args, **kwargs)

        monkeypatch.setattr(indexer.search, "search", slow_search)
        screen.query_one("#search-box", Input).value = "tuning"
        await pilot.press("enter")
        assert app.screen is screen  # the answer is still on its way
        screen.index_changed()  # what the app calls when a sync wrote a batch
        answer.set()
        await settle(pilot, app)
        assert isinstance(app.screen, IssueScreen)
        assert app.screen.key == "DEV-8"


async def test_copy_and_browser_keys_on_a_result(monkeypatch):
    fill_index()
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "deploy")
        await pilot.press("down")  # into the table
        await pilot.press("y")
        assert app.clipboard == "DEV-2"
        await pilot.press("Y")
        assert app.clipboard == "https://jira.example.com/browse/DEV-2"
        await pilot.press("o")
        assert opened == ["https://jira.example.com/browse/DEV-2"]


async def test_letters_typed_in_the_box_are_text_not_commands(monkeypatch):
    fill_index()
    monkeypatch.setattr(webbrowser, "open", lambda url: (_ for _ in ()).throw(AssertionError))
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "io")  # i = import, o = browser outside the box
        assert app.screen.query_one("#search-box", Input).value == "io"
        assert app.current_mode == "search"


async def test_no_results_says_so_and_points_to_the_search_syntax_in_the_help():
    """It sent the person to the README for the syntax, which F1 then s shows."""
    from textual.widgets import TabbedContent

    from tui.screens.help import HelpScreen

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "zebrafish")
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "No issues match “zebrafish”" in empty
        assert not app.screen.query_one(ResultsTable).display
        assert "README" not in empty
        assert "F1, then s, shows the query syntax" in empty
        await pilot.press("f1", "s")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one(TabbedContent).active == "help-syntax"


async def test_datasource_never_synced_says_how_to_sync():
    from indexer import config

    config.add_datasource(
        config.Datasource(name="work", endpoint="https://example.atlassian.net", project_key="DEV")
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "The index is empty" in empty and "Sync all datasources" in empty
        assert not app.screen.query_one("#add-datasource").display


async def test_a_datasource_added_from_the_command_line_shows_in_the_header(monkeypatch):
    """The header said "1 datasource" until a sync after `jiradex datasource add`."""
    from indexer import config
    from tui import app as app_module

    monkeypatch.setattr(app_module, "CONFIG_POLL_S", 0.1, raising=False)
    add_datasource("work", project="DEV")
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.screen.sub_title.startswith("1 datasource ·")
        add_datasource("mobile", project="MOB")  # what the CLI does, from outside the app
        await wait_for(pilot, lambda: app.screen.sub_title.startswith("2 datasources ·"), 5)
        config.remove_datasource("mobile")
        await wait_for(pilot, lambda: app.screen.sub_title.startswith("1 datasource ·"), 5)


async def test_the_header_age_of_the_last_sync_keeps_up_with_the_clock(monkeypatch):
    """The header said "synced just now" for as long as the app stayed open."""
    from indexer.store import Store
    from tui.screens import search as search_module

    monkeypatch.setattr(search_module, "OVERVIEW_TICK_S", 0.05)
    add_datasource("work", project="DEV")
    fill_index()
    with Store() as store:
        store.finish_run(store.start_run("work"))
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.screen.sub_title == "1 datasource · 4 issues · synced just now"
        LaterClock(monkeypatch)
        await wait_for(pilot, lambda: app.screen.sub_title.endswith("· synced 10m ago"))


async def test_overview_answering_after_the_first_search_corrects_the_message():
    """The home search and the datasource count run in separate workers; when the
    search answered first, "No datasources yet" used to stay on screen."""
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.screen
        assert "No datasources yet" in str(screen.query_one("#empty-text", Static).render())
        screen._set_overview("1 datasource · 0 issues · never synced", 1, 0)  # late answer
        await pilot.pause()
        assert "The index is empty" in str(screen.query_one("#empty-text", Static).render())
        assert not screen.query_one("#add-datasource").display


async def test_no_datasource_teaches_how_to_add_one():
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "No datasources yet" in empty and "jiradex demo" in empty
        # the cursor is in the search box, so the hint names a key that works there
        assert "Press F3" in empty
        await pilot.press("f3")
        await pilot.pause()
        assert app.current_mode == "datasources"
        app.go("search")
        await pilot.pause()
        await pilot.click("#add-datasource")  # the button opens the form itself
        await pilot.pause()
        assert app.current_mode == "datasources"
        assert isinstance(app.screen, DatasourceFormScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasourcesScreen)


async def test_a_query_the_engine_rejects_is_one_line_under_the_box():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "status:")
        status = app.screen.query_one("#status", Static)
        assert status.has_class("-error")
        assert "needs a value" in status_of(app)
        assert "\n" not in status_of(app)
        await type_query(pilot, app, "status:Open")
        assert not status.has_class("-error")


async def test_a_long_query_error_is_read_whole_at_80_columns():
    """The line under the box was one row high: at 80 columns the date error lost
    its second half, the part that says what to write instead."""
    from rich.console import Console

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "updated:>=garbage")
        status = app.screen.query_one("#status", Static)
        assert status.has_class("-error")
        message = status_of(app)
        assert message.endswith("or an age such as 7d, 2w, 3m")
        lines = Console(width=status.size.width).render_lines(message, pad=False)
        assert len(lines) > 1
        assert status.size.height == len(lines)


async def test_words_typed_into_an_empty_index_say_how_to_fill_it():
    """With no datasource (or nothing synced) a query answered "No issues match ...
    try fewer words", as if the words were the problem."""
    from indexer import config

    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "pool")
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "No datasources yet" in empty and "fewer words" not in empty
        assert app.screen.query_one("#add-datasource").display
    config.add_datasource(
        config.Datasource(name="work", endpoint="https://example.atlassian.net", project_key="DEV")
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "pool")
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "The index is empty" in empty and "fewer words" not in empty
        assert not app.screen.query_one("#add-datasource").display


async def test_a_crashing_search_is_a_notification_not_a_crash(monkeypatch):
    import indexer.search

    fill_index()

    def broken(*args, **kwargs):
        raise RuntimeError("boom in the engine")

    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        monkeypatch.setattr(indexer.search, "search", broken)
        await type_query(pilot, app, "pool")
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("boom in the engine" in m for m in messages)


async def test_stale_results_are_dropped():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "deploy")
        screen = app.screen
        stale = screen._generation - 1
        screen._show_results(stale, "old", [], None, 1.0)
        assert [h.key for h in screen.query_one(ResultsTable).hits] == ["DEV-2"]


async def test_long_cjk_and_emoji_summaries_fit_their_column():
    fill_index([issue(i, summary="接続プール🎉" * 30) for i in range(1, 4)])
    app = JiradexApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(ResultsTable)
        width = table.columns["summary"].width
        for row in range(table.row_count):
            cell = str(table.get_cell_at((row, 1)))
            assert cell.endswith("…")
            assert cell_len(cell) <= width
        await pilot.resize_terminal(140, 30)
        await settle(pilot, app)
        wider = table.columns["summary"].width
        assert wider > width
        assert cell_len(str(table.get_cell_at((0, 1)))) <= wider


@pytest.mark.parametrize("size", [(80, 24), (99, 30), (120, 30)])
async def test_results_fit_beside_their_scrollbar_without_a_horizontal_one(size):
    """The columns left one cell for a two-cell scrollbar: with a page of results
    a horizontal scrollbar took the table's last row."""
    fill_index([issue(i) for i in range(1, 80)])
    app = JiradexApp()
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(ResultsTable)
        assert table.show_vertical_scrollbar
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert not table.show_horizontal_scrollbar


async def test_wide_terminal_gives_names_room_and_header_counts_read_well():
    fill_index([issue(i, assignee="Yuki Tanaka-Watanabe") for i in range(1, 1201)])
    app = JiradexApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(ResultsTable)
        assert str(table.get_cell_at((0, 3))) == "Yuki Tanaka-W…"
        assert "1,200 issues" in app.screen.sub_title
        await pilot.resize_terminal(220, 30)
        await settle(pilot, app)
        assert str(table.get_cell_at((0, 3))) == "Yuki Tanaka-Watanabe"
        await pilot.resize_terminal(120, 30)
        await settle(pilot, app)
        assert str(table.get_cell_at((0, 3))) == "Yuki Tanaka-W…"


async def test_brackets_in_jira_text_are_shown_not_read_as_markup():
    """DataTable reads plain str cells as Rich markup: '[/b]' used to end the app."""
    summary = "Parser drops [/b] and [red]colour[/red] tags"
    fill_index([issue(1, summary=summary, assignee="[bot] Ci", status="[WIP]")])
    app = JiradexApp()
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press(*"parser")
        await settle(pilot, app)
        table = app.screen.query_one(ResultsTable)
        assert table.row_count == 1
        cells = [str(table.get_cell_at((0, col))) for col in range(4)]
        assert cells[1] == summary and cells[2] == "[WIP]" and cells[3] == "[bot] Ci"
        lines = "\n".join(
            "".join(seg.text for seg in table.render_line(y)) for y in range(table.size.height)
        )
        assert "[/b]" in lines and "[red]colour[/red]" in lines
        assert app.is_running


async def test_brackets_typed_in_the_box_and_in_errors_are_not_markup():
    """Static and notifications read markup: '[/b]' typed in the box ended the app."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "[/b] [red]x")
        assert app.is_running
        empty = str(app.screen.query_one("#empty-text", Static).render())
        assert "“[/b] [red]x”" in empty
        app.show_error("Jira said [/b] and [red]no")
        await pilot.pause()
        assert app.is_running
        assert any(n.message == "Jira said [/b] and [red]no" for n in app._notifications)


async def test_index_changed_reruns_the_search():
    fill_index([issue(1, summary="alpha")])
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await type_query(pilot, app, "alpha")
        assert len(app.screen.query_one(ResultsTable).hits) == 1
        fill_index([issue(2, summary="alpha again")])
        from tui.messages import IndexUpdated

        app.post_message(IndexUpdated("work"))
        await settle(pilot, app)
        assert len(app.screen.query_one(ResultsTable).hits) == 2


async def test_an_open_issue_shows_what_a_sync_wrote_and_keeps_its_place():
    """The issue screen kept showing what it loaded: a sync that moved the issue to
    Done and added a comment left it stale until it was closed and opened again."""
    from tui.messages import IndexUpdated

    long_text = "\n\n".join(f"Paragraph {n} of the description." for n in range(60))
    fill_index([issue(1, summary="Pool times out", description=long_text)])
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-1"))
        await settle(pilot, app)
        screen = app.screen
        scroll = screen.query_one("#issue-scroll")
        await wait_for(pilot, lambda: scroll.max_scroll_y > 20)  # loaded and laid out
        scroll.scroll_to(y=20, animate=False)
        await wait_for(pilot, lambda: scroll.scroll_y == 20)
        app.post_message(IndexUpdated("work"))  # a sync that changed nothing here
        await settle(pilot, app)
        assert scroll.scroll_y == 20
        comment = {"id": "7", "author": "Ann", "created": "2024-05-01T10:00:00.000Z",
                   "body": "Fixed by raising the pool", "body_text": "Fixed by raising the pool"}  # fmt: skip
        fill_index([issue(1, summary="Pool times out", description=long_text, status="Done",
                          comments=[comment])])  # fmt: skip
        app.post_message(IndexUpdated("work"))
        await wait_for(
            pilot, lambda: any("Fixed by raising" in m.source for m in screen.query(Markdown))
        )
        await wait_for(pilot, lambda: scroll.scroll_y == 20)  # the reader's place, kept
        assert app.screen is screen and "Done" in screen.sub_title
        with Store() as store:  # then a sync finds it deleted in Jira
            store.delete_issues("work", ["20001"])
        app.post_message(IndexUpdated("work"))
        await wait_for(pilot, lambda: bool(screen.query("#issue-error")))
        error = str(screen.query_one("#issue-error", Static).render())
        assert error == "DEV-1 is not in the index (a sync may have removed it)"


async def test_the_header_names_a_datasource_whose_last_sync_failed_until_one_succeeds():
    """A background sync that fails is notified once (not at every interval while
    offline): after that notification faded, nothing on screen said the index had
    stopped being kept up to date."""
    from tui.messages import SyncsFinished

    add_datasource("work", project="DEV")
    add_datasource("home", project="DEV")
    fill_index()
    with Store() as store:
        store.finish_run(store.start_run("work"), "error", error="Jira cannot be reached")
        store.finish_run(store.start_run("gone"), "error", error="no longer configured")
        store.finish_run(store.start_run("home"), "error", error="timed out")
        store.finish_run(store.start_run("home"), "cancelled")  # no failure, no success
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await wait_for(pilot, lambda: "sync failed" in app.screen.sub_title)
        assert app.screen.sub_title.startswith("sync failed: home, work · 2 datasources · ")
        with Store() as store:
            store.finish_run(store.start_run("work"), "ok", issues=3)
            store.finish_run(store.start_run("home"), "ok")
        app.post_message(SyncsFinished([], background=True))
        await wait_for(pilot, lambda: "failed" not in app.screen.sub_title)
        assert app.screen.sub_title.startswith("2 datasources · ")


async def test_issue_missing_from_index_shows_one_line():
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-999"))
        await settle(pilot, app)
        error = str(app.screen.query_one("#issue-error", Static).render())
        assert error == "DEV-999 is not in the index (a sync may have removed it)"


# ---------------------------------------------------------------------- snapshots


def no_blink(app) -> None:
    for box in app.screen.query(Input):
        box.cursor_blink = False


def test_snapshot_search_with_results(snap_compare, monkeypatch):
    monkeypatch.setattr("tui.screens.search.SHOW_TIMING", False)
    fill_index()
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        no_blink(app)
        await pilot.press(*"pool")
        await settle(pilot, app)
        await pilot.press("down")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_snapshot_search_empty_state(snap_compare):
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        no_blink(app)

    assert snap_compare(app, terminal_size=(100, 24), run_before=run_before)


def test_snapshot_search_no_results(snap_compare, monkeypatch):
    monkeypatch.setattr("tui.screens.search.SHOW_TIMING", False)
    fill_index()
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        no_blink(app)
        await pilot.press(*"zebrafish")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(100, 24), run_before=run_before)


def test_snapshot_issue_detail(snap_compare):
    fixed = "2024-03-01T09:30:00.000Z"
    fill_index(
        [
            issue(
                1,
                summary="Pool times out under load 接続 🎉",
                created=fixed,
                updated=fixed,
                description="The **connection pool** hits its timeout.\n\n- 64 clients\n- `pool_size`",
                comments=[
                    {
                        "id": "c1",
                        "author": "Zoë Ångström",
                        "created": fixed,
                        "body": "Raised it to *128*.",
                        "body_text": "Raised it to 128.",
                    }
                ],
            )
        ]
    )
    app = JiradexApp()

    async def run_before(pilot):
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-1"))
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(100, 40), run_before=run_before)


async def test_the_ages_in_the_results_keep_up_with_the_clock(monkeypatch):
    """The Upd column was worked out when the results came: an issue a sync had just
    brought in said "now" for as long as the list stayed on screen."""
    from datetime import UTC, datetime

    from tui.screens import search as search_module

    monkeypatch.setattr(search_module, "OVERVIEW_TICK_S", 0.05)
    just_now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # not the module's NOW
    fill_index([issue(1, summary="Fresh from the sync", updated=just_now)])
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(ResultsTable)
        assert str(table.get_row_at(0)[-1]) == "now"
        preview = app.screen.query_one("#preview")
        assert "Updated just now" in preview.plain
        LaterClock(monkeypatch)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[-1]) == "10m")
        await wait_for(pilot, lambda: "Updated just now" not in preview.plain)
        assert "Updated 10m ago" in preview.plain


async def test_a_pasted_block_of_lines_is_searched_whole():
    """Pasting lines (a stack trace, an error copied from a log) kept the first line
    only: the rest of what was pasted was silently dropped from the query."""
    from textual import events

    fill_index()
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        box = app.screen.query_one("#search-box", Input)
        box.post_message(events.Paste("connection pool\n  timeout\tclients\n"))
        await settle(pilot, app)
        assert box.value == "connection pool timeout clients"
        assert [hit.key for hit in app.screen.query_one(ResultsTable).hits] == ["DEV-1"]


async def test_the_box_suggests_the_rest_of_a_filter_value_and_right_takes_it():
    fill_index(
        [
            issue(1, status="In Progress", labels=["backend"]),
            issue(2, status="Open", labels=["backlog", "ui"]),
        ]
    )
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        box = app.screen.query_one("#search-box", Input)
        await type_query(pilot, app, 'status:"in')
        await wait_for(pilot, lambda: box._suggestion == 'status:"in Progress"')
        await pilot.press("right")
        await settle(pilot, app)
        assert box.value == 'status:"in Progress"'
        assert [hit.key for hit in app.screen.query_one(ResultsTable).hits] == ["DEV-1"]
        await type_query(pilot, app, "label:backl")
        await wait_for(pilot, lambda: box._suggestion == "label:backlog")
        await pilot.press("right")
        await settle(pilot, app)
        assert [hit.key for hit in app.screen.query_one(ResultsTable).hits] == ["DEV-2"]


async def test_a_long_thread_opens_whole_and_is_shown_in_parts(monkeypatch):
    """A 60-comment issue took about a second to appear: Textual builds a widget per
    Markdown block. The first part is shown at once and the rest added after it;
    the reader ends up with the whole document, End reaching the last comment."""
    from indexer.issue_view import issue_markdown_body

    comments = [
        {
            "id": str(n),
            "author": "Ann",
            "created": f"2024-05-01T10:{n:02d}:00.000Z",
            "body": f"Comment {n}: the pool **still** times out.",
            "body_text": "",
        }  # fmt: skip
        for n in range(60)
    ]
    record = issue(1, summary="Pool times out", comments=comments)
    fill_index([record])
    frames = asyncio.Event()  # the screen's frames, held until the test lets them go

    async def next_frame(screen) -> None:
        await frames.wait()

    monkeypatch.setattr(IssueScreen, "_painted", next_frame)
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-1"))
        await wait_for(pilot, lambda: bool(app.screen.query("#issue-markdown")))
        markdown = app.screen.query_one("#issue-markdown", Markdown)
        await pilot.pause(0.1)
        assert "Comment 0:" in markdown.source or "## Description" in markdown.source
        assert "Comment 59" not in markdown.source  # only the first part, at first
        frames.set()
        await settle(pilot, app)
        with Store() as store:
            whole = issue_markdown_body(store.get_issue("DEV-1"), escape=True)
        assert markdown.source == whole
        await pilot.press("end")
        await settle(pilot, app)
        scroll = app.screen.query_one("#issue-scroll")
        assert scroll.scroll_y == scroll.max_scroll_y > 0


async def test_the_issue_facts_are_one_text_and_the_link_opens_the_browser(monkeypatch):
    """The facts were a Markdown list: some thirty widgets and ~130 ms of the ~300
    it took to open a small issue. They are one text now; its link still opens."""
    fill_index([issue(1, summary="Pool times out", labels=["db", "ui"])])
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    app = JiradexApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(IssueScreen("DEV-1"))
        await settle(pilot, app)
        facts = app.screen.query_one("#issue-facts", Static)
        lines = str(facts.render()).splitlines()
        assert lines[0] == "• Status: Open"
        assert "• Labels: db, ui" in lines
        assert lines[-1] == "• Link: https://jira.example.com/browse/DEV-1"
        assert not app.screen.query("MarkdownBulletList")
        await pilot.click(facts, offset=(12, len(lines) - 1))  # on the URL
        assert opened == ["https://jira.example.com/browse/DEV-1"]


@pytest.mark.parametrize("width", [100, 120, 140])
async def test_the_preview_key_hint_is_never_broken_inside_a_key(width):
    """At 100-140 columns the hint wrapped as plain text: "… o" / "browser", or
    "… y copy" / "key"."""
    fill_index()
    app = JiradexApp()
    async with app.run_test(size=(width, 36)) as pilot:
        await settle(pilot, app)
        body = app.screen.query_one(IssuePreview).query_one("#preview-body")
        region = Region(0, 0, body.size.width, body.size.height)
        lines = [strip.text.rstrip() for strip in body.render_lines(region)]
        start = next(n for n, line in enumerate(lines) if line.startswith("⏎"))
        hint = [line for line in lines[start:] if line]
        pieces = [piece for line in hint for piece in line.split(" · ")]
        assert pieces[0] == "⏎ open" and pieces[-1] == "y copy key"
        assert all(piece.split(" ", 1)[0] in "⏎ioy" for piece in pieces)
        assert {piece.split(" ", 1)[1] for piece in pieces} <= {
            "open", "import as task", "import", "browser", "copy key"
        }  # fmt: skip

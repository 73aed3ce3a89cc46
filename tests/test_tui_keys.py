"""Keys typed faster than the app handles them: a key that moves the focus must move
it before the keys behind it are handed out, or those land in the widget it left."""

from __future__ import annotations

import pytest
from tui_helpers import burst, settle, wait_for

from tui.app import JiradexApp
from tui.widgets.datasource_form import DatasourceFormScreen

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

"""Counts read right at one, in the CLI and TUI lines that print them."""

from __future__ import annotations

import pytest

from indexer.sync import SyncSummary
from indexer.wording import counted
from tui.sync_controller import SyncJob
from tui.widgets.sync_progress import SyncRow


@pytest.mark.parametrize(
    ("n", "grouped", "expected"),
    [
        (0, False, "0 issues"),
        (1, False, "1 issue"),
        (2, False, "2 issues"),
        (1234, False, "1234 issues"),
        (1234, True, "1,234 issues"),
        (None, False, "0 issues"),
    ],
)
def test_counted(n, grouped, expected):
    assert counted(n, "issue", grouped=grouped) == expected


def test_sync_summary_line_says_1_issue_1_comment(capsys):
    import cli

    cli._print_summary(SyncSummary("w", issues=1, comments=1, attachments=0), as_json=False)
    out = capsys.readouterr().out
    assert out.startswith("w: ok, 1 issue, 1 comment, 0 attachments written")


def test_sync_card_says_1_issue():
    job = SyncJob(name="w", phase="ok")
    job.summary = SyncSummary("w", issues=1, comments=3, attachments=1)
    text = SyncRow._stats(job).plain
    assert text.startswith("1 issue · 3 comments · 1 attachment · 0 deleted")

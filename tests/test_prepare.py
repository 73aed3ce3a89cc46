"""indexer.prepare: replies in, normalised pages out, the same in a worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from indexer import prepare
from indexer.errors import JiradexError
from indexer.normalize import attachment_metadata, normalize_comment, normalize_issue
from indexer.store import decode_raw, encode_raw, fts_terms, precomputed_fts

SITE = "https://example.atlassian.net"


def _issue(number: int, comments: int, total: int | None = None) -> dict:
    page = [
        {
            "id": f"{number}{c}",
            "author": {"displayName": "Ada"},
            "created": "2024-03-01T10:00:00.000+0100",
            "body": {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": f"c{c}"}]}],
            },
        }
        for c in range(comments)
    ]
    return {
        "id": str(10000 + number),
        "key": f"DEMO-{number}",
        "fields": {
            "summary": f"Issue {number}",
            "updated": "2024-03-02T10:00:00.000+0100",
            "comment": {"comments": page, "total": comments if total is None else total},
            "attachment": [{"id": "7", "filename": "log.txt", "mimeType": "text/plain"}],
        },
    }


def test_issues_page_keeps_paging_keys_and_normalises_each_issue():
    raws = [_issue(1, 2), _issue(2, 20, total=31), {"key": "NO-ID"}, "junk"]
    reply = {"startAt": 0, "maxResults": 100, "total": 3, "issues": raws}
    page = prepare.prepare_issues_page(orjson.dumps(reply), datasource="jira", site_url=SITE)
    assert {k: v for k, v in page.items() if k != "issues"} == {
        "startAt": 0,
        "maxResults": 100,
        "total": 3,
    }
    assert [p["id"] for p in page["issues"]] == ["10001", "10002"]  # no id, no issue
    first, second = page["issues"]
    expected = normalize_issue(raws[0], datasource="jira", site_url=SITE)
    assert first["record"] == {**expected, "raw": encode_raw(expected["raw"])}
    assert decode_raw(first["record"]["raw"])["key"] == "DEMO-1"
    assert "comments" not in first["record"] and "attachments" not in first["record"]
    assert first["comments"] == [
        normalize_comment(c) for c in raws[0]["fields"]["comment"]["comments"]
    ]
    assert first["comment_total"] == 2
    assert (second["comment_total"], len(second["comments"])) == (31, 20)  # more to fetch
    assert first["attachments"] == [attachment_metadata(raws[0]["fields"]["attachment"][0])]


@pytest.mark.parametrize("payload", [b"", b"<html>", b'{"issues": [', b"[1, 2]", b"\xff\xfe"])
def test_not_a_json_object_is_refused_for_the_client_to_diagnose(payload):
    with pytest.raises(prepare.NotJSON):
        prepare.prepare_issues_page(payload, datasource="jira", site_url=SITE)
    with pytest.raises(ValueError):  # what JiraClient._json catches
        prepare.prepare_comments_page(payload)


def test_decoded_values_are_accepted_too():
    reply = {"total": 1, "comments": [_issue(1, 1)["fields"]["comment"]["comments"][0]]}
    assert prepare.prepare_comments_page(reply) == prepare.prepare_comments_page(
        json.dumps(reply).encode()
    )


def test_fts_columns_come_along_only_for_whole_threads_when_asked():
    reply = orjson.dumps({"issues": [_issue(1, 2), _issue(2, 20, total=31)]})
    plain = prepare.prepare_issues_page(reply, datasource="jira", site_url=SITE)
    assert all("fts" not in p["record"] for p in plain["issues"])
    whole, partial = prepare.prepare_issues_page(reply, datasource="jira", site_url=SITE, fts=True)[
        "issues"
    ]
    assert "fts" not in partial["record"]  # the rest of its thread is yet to come
    assert whole["record"]["fts"] == precomputed_fts(
        whole["record"], whole["comments"], whole["attachments"]
    )
    summary, tags, desc, ctext, atext, *columns = whole["record"]["fts"]
    assert (summary, ctext) == ("Issue 1", "c0\n\nc1")
    assert tuple(columns) == fts_terms(summary, tags, desc, ctext, atext)


def test_several_workers_send_the_fts_columns_one_does_not():
    reply = orjson.dumps({"issues": [_issue(1, 2)]})
    with prepare.Preparer(datasource="jira", site_url=SITE, processes=1) as one:
        assert "fts" not in one.issues(reply)["issues"][0]["record"]
        assert not one.offloads_fts
    with prepare.Preparer(datasource="jira", site_url=SITE, processes=2) as two:
        assert "fts" in two.issues(reply)["issues"][0]["record"]
        assert two.offloads_fts
        texts = [("Crashes", "db", "Retried twice", "服务器 crashed", ""), ("", "", "", "", "")]
        assert two.fts_columns(texts) == [(*t, *fts_terms(*t)) for t in texts]


def test_worker_process_gives_what_in_process_gives():
    reply = orjson.dumps({"issues": [_issue(n, n % 4) for n in range(1, 30)]})
    comments = orjson.dumps({"total": 2, "comments": _issue(1, 2)["fields"]["comment"]["comments"]})
    inline = prepare.Preparer(datasource="jira", site_url=SITE)
    with prepare.Preparer(datasource="jira", site_url=SITE, processes=1) as pooled:
        assert pooled.processes == 1
        assert pooled.issues(reply) == inline.issues(reply)
        assert pooled.comments(comments) == inline.comments(comments)
        with pytest.raises(prepare.NotJSON):  # the refusal crosses the process boundary
            pooled.issues(b"<html>")


def test_small_syncs_prepare_in_process_big_ones_on_a_pool(monkeypatch):
    monkeypatch.setattr(prepare, "_cpu_count", lambda: 8)
    small = prepare.Preparer.for_sync(datasource="j", site_url=SITE, issues=100)
    assert small.processes == 0
    with prepare.Preparer.for_sync(datasource="j", site_url=SITE, issues=50_000) as big:
        assert big.processes == prepare.MAX_PROCESSES
    monkeypatch.setattr(prepare, "_cpu_count", lambda: 2)  # one core stays with the sync
    with prepare.Preparer.for_sync(datasource="j", site_url=SITE, issues=50_000) as two:
        assert two.processes == 1
    monkeypatch.setattr(prepare, "_cpu_count", lambda: 1)
    assert prepare.Preparer.for_sync(datasource="j", site_url=SITE, issues=50_000).processes == 0


def test_workers_start_where_stderr_is_a_capture_without_a_file(tmp_path):
    """Textual swaps sys.stderr for a capture whose fileno() is -1, and multiprocessing
    hands that fd to its resource tracker ("bad value(s) in fds_to_keep"). A fresh
    process (no tracker yet) with such a stderr still gets its worker, which prints
    nothing on the screen the TUI owns."""
    script = tmp_path / "under_a_tui.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(prepare.__file__).resolve().parent.parent)!r})
            import orjson
            from indexer import prepare

            class Capture:
                def write(self, text):
                    return len(text)

                def flush(self):
                    pass

                def fileno(self):
                    return -1

            if __name__ == "__main__":
                prepare._cpu_count = lambda: 2
                reply = orjson.dumps({{"issues": [{{"id": "1", "key": "A-1", "fields": {{}}}}]}})
                sys.stderr = Capture()
                with prepare.Preparer.for_sync(datasource="j", site_url="https://x", issues=9999) as p:
                    page = p.issues(reply)
                print(p.processes, page["issues"][0]["record"]["key"])
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "A-1"]


def test_a_killed_worker_is_one_clear_error():
    reply = orjson.dumps({"issues": [_issue(1, 2)]})
    with prepare.Preparer(datasource="jira", site_url=SITE, processes=1) as pooled:
        assert pooled.issues(reply)["issues"]  # the worker is up
        for process in list(pooled._pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        with pytest.raises(JiradexError, match="worker process preparing issues stopped"):
            pooled.issues(reply)


def test_attachment_text_on_a_worker_is_what_in_process_gives():
    from test_attachments import _tiny_pdf

    files = [
        ("design.pdf", "application/pdf", _tiny_pdf("Replication lag budget")),
        ("broken.pdf", "application/pdf", b"%PDF-1.4 garbage"),
        ("server.log", "text/plain", b"ERROR timeout in retry_loop\n"),
    ]
    inline = prepare.Preparer(datasource="jira", site_url=SITE)
    with prepare.Preparer(datasource="jira", site_url=SITE, processes=1) as pooled:
        texts = [pooled.attachment_text(*f) for f in files]
    assert texts == [inline.attachment_text(*f) for f in files]
    assert "Replication lag budget" in texts[0] and texts[1] is None
    assert texts[2] == "ERROR timeout in retry_loop\n"

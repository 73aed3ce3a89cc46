"""Faults during a sync: each ends in a complete, correct index or in one clear error
with the index as it was (whole batches only), and a clean re-run completes it.

Server faults (429, 5xx, an HTML login page with 200, a non-JSON body) are injected
in fakejira while recording and replayed from cassettes/sync/fault_*.yaml; faults a
cassette cannot hold (timeouts, connections cut mid-body) are raised by the test
transport (replay_helpers.FaultTransport). Retries never sleep here: the waits the
client asked for are collected and checked against the retry budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from replay_helpers import TOKEN, FaultTransport, TransportFault, fast_client, index_snapshot, world

import fakejira.server
from indexer.store import Store
from indexer.sync import sync_datasource


@dataclass
class Case:
    name: str
    expect: str  # "ok": retried to a complete index; "error": one clear error
    kind: str | None = None  # fakejira fault
    count: int = 1
    path: str | None = None
    retry_after: str | None = None
    transport: tuple[TransportFault, ...] = ()
    message: str = ""  # expected in the error text

    def __str__(self) -> str:
        return self.name


BULK = "/issue/bulkfetch"
SEARCH = "/search/jql"

CASES = [
    Case("429-retry-after-2", "ok", "429", 2, SEARCH, retry_after="2"),
    Case("429-no-retry-after", "ok", "429", 2, BULK),
    Case("429-retry-after-0", "ok", "429", 3, BULK, retry_after="0"),
    Case("429-forever", "error", "429", 40, BULK, retry_after="1", message="rate"),
    Case("500-once", "ok", "500", 1, BULK),
    Case("500-twice", "error", "500", 2, BULK, message="500"),
    Case("502", "ok", "502", 2, SEARCH),
    Case("503", "ok", "503", 2, BULK, retry_after="1"),
    Case("504", "ok", "504", 1, BULK),
    Case("503-forever", "error", "503", 40, SEARCH, message="503"),
    # A login page served with 200 (proxy, CAPTCHA trip): credentials refused, say so.
    Case("html-login-once", "either", "html200", 1, BULK, message="login page"),
    Case("html-login-page", "error", "html200", 5, BULK, message="login page"),
    Case("not-json-once", "ok", "notjson", 1, SEARCH),
    Case("not-json", "error", "notjson", 5, SEARCH, message="JSON"),
    Case("timeout-search", "ok", transport=(TransportFault("timeout", SEARCH),)),
    Case("timeout-bulkfetch", "ok", transport=(TransportFault("timeout", BULK, 2),)),
    Case(
        "timeout-forever",
        "error",
        transport=(TransportFault("timeout", SEARCH, 10),),
        message="timed out",
    ),
    Case("reset-mid-body", "ok", transport=(TransportFault("reset", BULK),)),
    Case("truncated-body", "ok", transport=(TransportFault("truncate", SEARCH),)),
]


def _changes(fj) -> None:
    fj.update_issue("DEMO-2", summary="Changed before the faulty run")
    fj.update_issue("DEMO-4", status="Done")
    fj.add_issue(summary="Added before the faulty run")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_ends_complete_or_with_clear_error(case: Case, tmp_path):
    db = tmp_path / "index.db"
    with world(f"fault_{case.name}", issues=25, comments=False) as w:
        ds = w.datasource()
        with Store(db) as store:
            clean = sync_datasource(ds, store=store, client=fast_client(ds))
            assert clean.status == "ok", clean.error
            before = w.truth("before")
            assert index_snapshot(db, "jira") == before
            w.server(_changes)
            after = w.truth("after")
            if case.kind:
                w.server(lambda fj: fj.inject(case.kind, case.count, case.path, case.retry_after))
            transport = FaultTransport(list(case.transport))
            client = fast_client(ds, transport)
            # A storm is retried until the budget is spent, and how many attempts that
            # takes depends on the jitter: the same jitter as when recorded, so a replay
            # makes the same attempts (one more would take the next run's answer).
            client.retry.rng.seed(case.name)
            summary = sync_datasource(ds, store=store, client=client)
            print(f"fault {case.name}: {summary.status} {summary.error or ''}")

            # Every wait was bounded by the policy, and so was their sum.
            policy = client.retry
            assert all(0 <= s <= policy.max_delay * 4 for s in client.waits)
            assert sum(client.waits) <= policy.budget_seconds
            if case.retry_after not in (None, "0") and case.expect == "ok":
                assert float(case.retry_after) in client.waits  # Retry-After honoured
            if case.retry_after == "0":
                assert client.waits and min(client.waits) > 0  # backs off anyway
            if case.kind == "429":
                assert client.limiter.decreases >= 1  # concurrency halved
            if case.kind in ("429", "503") and case.expect == "error":
                # A storm is waited out for the whole budget (the next wait, 30 s at
                # most, would have passed it), not given up after a few seconds.
                assert sum(client.waits) > policy.budget_seconds - policy.max_delay

            snap = index_snapshot(db, "jira")
            if case.expect == "ok":
                assert summary.status == "ok", summary.error
            if case.expect == "error":
                assert summary.status == "error"
            if summary.status == "ok":
                assert snap == after
            else:
                message = summary.error or ""
                assert "\n" not in message and "Traceback" not in message
                assert TOKEN not in message
                assert case.message.lower() in message.lower()
                assert snap in (before, after)  # the failed batch is all or nothing
                run = store.runs("jira")[0]
                assert run["status"] == "error" and run["error"] == message
            assert store.integrity_check() == []

            # The fault is gone: a plain re-run completes the index.
            w.server(lambda fj: fj.clear_faults())
            again = sync_datasource(ds, store=store, client=fast_client(ds))
            assert again.status == "ok", again.error
            assert index_snapshot(db, "jira") == after
            assert store.integrity_check() == []


def _shift_after_first_listing_page(
    w, transport, ref: str, listing_path: str, change: str = "updated"
) -> None:
    """While recording: update (or delete) `ref` right after the first listing page
    was served, so the rest of the listing sees a result set that moved under it."""
    fired = []

    def hook(request, response):
        if w.fj is None or fired or listing_path not in str(request.url):
            return
        if "startAt=0" in str(request.url) or "nextPageToken" not in str(request.url):
            fired.append(True)
            if change == "deleted":
                w.fj.delete_issue(ref)
            else:
                w.fj.update_issue(ref, summary="Updated while the sync was listing")

    transport.after.append(hook)


@pytest.fixture
def small_cloud_pages(monkeypatch):
    """fakejira returns at most 15 ids per search/jql page (real Cloud may cap lower
    than asked too), so a 45-issue listing spans several pages."""
    monkeypatch.setattr(fakejira.server, "CLOUD_ID_CAP", 15)


def test_cloud_listing_page_that_repeats_an_issue(tmp_path, small_cloud_pages):
    db = tmp_path / "index.db"
    with world("page_repeat_cloud", mode="cloud", issues=45, comments=False) as w:
        ds = w.datasource()
        transport = FaultTransport()
        _shift_after_first_listing_page(w, transport, "DEMO-5", "/search/jql")
        with Store(db) as store:
            summary = sync_datasource(ds, store=store, client=fast_client(ds, transport))
            assert summary.status == "ok", summary.error
            pages = [s for s in transport.sent if "/search/jql" in s.url]
            assert len(pages) >= 3
            assert index_snapshot(db, "jira") == w.truth("after")
            assert store.get_issue("DEMO-5")["summary"] == "Updated while the sync was listing"
            assert store.integrity_check() == []


DC_SHIFT_CASSETTES = {
    ("updated", False): "page_skip_dc",
    ("updated", True): "page_skip_dc_full",
    ("deleted", False): "delete_shift_dc",
    ("deleted", True): "delete_shift_dc_full",
}


@pytest.mark.parametrize("full_again", [False, True], ids=["first-sync", "full-resync"])
@pytest.mark.parametrize("change", ["updated", "deleted"])
def test_datacenter_listing_that_moves_under_its_offset_pages(tmp_path, change, full_again):
    """Offset paging (startAt) over `ORDER BY updated`: an issue updated while the
    listing runs moves to the end (its id repeats), one deleted makes the pages'
    `total` fall (nothing repeats); either way every later issue shifts back by one
    and the one at the next page boundary is never listed. The listing is done
    again, and the index ends equal to the server: the passed-over issue fetched,
    not deleted by a --full run's reconcile."""
    db = tmp_path / "index.db"
    name = DC_SHIFT_CASSETTES[change, full_again]
    ref = "DEMO-5" if change == "updated" else "DEMO-3"
    with world(name, mode="datacenter", issues=60, comments=False, max_results_cap=20) as w:
        ds = w.datasource(username=None)
        with Store(db) as store:
            if full_again:
                first = sync_datasource(ds, store=store, client=fast_client(ds))
                assert first.status == "ok", first.error
            transport = FaultTransport()
            _shift_after_first_listing_page(w, transport, ref, "/rest/api/2/search", change)
            summary = sync_datasource(
                ds, store=store, client=fast_client(ds, transport), full=full_again
            )
            assert summary.status == "ok", summary.error
            truth = w.truth("after")
            assert len(truth) == (60 if change == "updated" else 59)
            assert index_snapshot(db, "jira") == truth
            assert summary.deleted == (1 if change == "deleted" and full_again else 0)
            assert store.integrity_check() == []

"""ScopeListing: batches handed out while the listing pages on, and result sets that
move under the paging (no HTTP here: the passes are plain generators)."""

from __future__ import annotations

import threading
import time

import pytest

from indexer.errors import JiradexError
from indexer.listing import ScopeListing, list_all
from indexer.sync import _newest_only


def item(n: int, updated: str = "") -> dict[str, str]:
    return {"id": str(n), "key": f"DEMO-{n}", "updated": updated}


def gated(pages: list[list[dict]], gates: list[threading.Event]):
    """A listing pass whose page k+1 waits for gates[k]: the test says when it goes on."""

    def list_pass():
        for number, page in enumerate(pages):
            if number:
                assert gates[number - 1].wait(5), "the test never released the page"
            yield from page

    return list_pass


def test_batches_are_handed_out_before_the_listing_ends():
    gates = [threading.Event()]
    pages = [[item(n) for n in range(1, 6)], [item(n) for n in range(6, 9)]]
    listing = ScopeListing(gated(pages, gates)).start()
    try:
        assert listing.wait_for(5) == 5
        assert not listing.finished
        assert listing.take(4) == ["1", "2", "3", "4"]
        assert listing.take(4) == []  # one waits, the listing goes on: not a batch yet
        ready = listing.ready(4)
        assert not ready.done()
        gates[0].set()
        ready.result(timeout=5)
        assert listing.take(4) == ["5", "6", "7", "8"]
        listing.wait_for(1)
        assert listing.finished and listing.done and listing.clean
        assert listing.handed_out == 8 and len(listing.listed) == 8
    finally:
        listing.close()


def test_the_rest_is_handed_out_once_the_listing_finished():
    listing = ScopeListing(lambda: iter([item(1), item(2), item(3)]))
    listing.run()
    assert listing.take(2) == ["1", "2"]
    assert listing.take(2) == ["3"]
    assert listing.take(2) == [] and listing.done
    assert listing.ready(2).done()


def test_wanted_filters_what_is_handed_out_but_not_what_is_listed():
    listing = ScopeListing(
        lambda: iter([item(1, "a"), item(2, "b"), item(3, "c")]),
        wanted=lambda i: i["updated"] != "b",
    )
    listing.run()
    assert listing.take(10) == ["1", "3"]
    assert listing.listed == {"1": "a", "2": None, "3": "c"}  # 2 listed, not handed out


def test_an_issue_listed_twice_is_handed_out_again_and_the_scope_listed_again():
    """Issue 2 is updated while the first pass pages: it shows up again at the end,
    and (offset paging) issue 4 is skipped. The second pass hands out only issue 4
    (2 again too, since it moved once more) and the listing is not clean."""
    passes = [
        [item(1), item(2), item(3), item(5), item(2)],
        [item(1), item(3), item(4), item(5), item(2)],
    ]
    calls = iter(passes)
    listing = ScopeListing(lambda: iter(next(calls)), passes=3)
    listing.run()
    handed = listing.take(100)
    assert handed == ["1", "2", "3", "5", "2", "4"]
    assert listing.repeated == {"2"}
    assert not listing.clean
    assert listing.listed == {"1": "", "2": "", "3": "", "4": "", "5": ""}


def test_a_later_pass_hands_out_issues_whose_updated_moved():
    passes = [
        [item(1, "t1"), item(2, "t2"), item(1, "t3")],
        [item(2, "t2"), item(1, "t3"), item(3, "t4")],
    ]
    calls = iter(passes)
    listing = ScopeListing(lambda: iter(next(calls)))
    listing.run()
    assert listing.take(100) == ["1", "2", "1", "3"]
    assert listing.listed == {"1": "t3", "2": "t2", "3": "t4"}


def test_passes_are_bounded_for_a_scope_that_never_stops_moving():
    count = []

    def restless():
        count.append(1)
        return iter([item(1), item(2), item(1)])

    listing = ScopeListing(restless, passes=3)
    listing.run()
    assert len(count) == 3 and not listing.clean
    assert listing.finished


def test_a_listing_error_reaches_the_consumer():
    def broken():
        yield item(1)
        raise JiradexError("Jira answered 400: the JQL is not valid")

    listing = ScopeListing(broken).start()
    with pytest.raises(JiradexError, match="JQL is not valid"):
        listing.wait_for(10)
    with pytest.raises(JiradexError, match="JQL is not valid"):
        listing.take(1)
    listing.close()


def test_close_stops_a_listing_midway():
    gate = threading.Event()
    seen = []

    def endless():
        n = 0
        while True:
            n += 1
            seen.append(n)
            if n == 3:
                gate.set()
            yield item(n)

    listing = ScopeListing(endless).start()
    assert gate.wait(5)
    listing.close()
    assert listing.finished and not listing._thread.is_alive()
    stopped_at = len(seen)
    time.sleep(0.05)
    assert len(seen) == stopped_at
    handed = listing.take(10**6)  # no error for a stop the consumer asked for
    assert handed == [str(n) for n in range(1, len(handed) + 1)]
    assert not listing.clean


def test_list_all_returns_every_id_and_raises_listing_errors():
    assert list(list_all(lambda: iter([item(1), item(2)]))) == ["1", "2"]

    def broken():
        raise JiradexError("Jira answered 404: no project")
        yield

    with pytest.raises(JiradexError, match="no project"):
        list_all(broken)


def test_newest_only_keeps_the_newest_fetch_of_an_issue_listed_twice():
    written: dict[str, int] = {}
    newer = {"id": "2", "updated": "2024-01-01T10:00:00+00:00"}
    older = {"id": "2", "updated": "2024-01-01T09:00:00+00:00"}
    other = {"id": "3", "updated": "2023-01-01T00:00:00+00:00"}
    assert _newest_only([newer, other], {"2"}, written) == [newer, other]
    assert _newest_only([older], {"2"}, written) == []
    assert _newest_only([newer], {"2"}, written) == [newer]  # the same version again
    assert list(written) == ["2"]


def test_a_listing_out_of_updated_order_is_not_clean():
    """Listed by key (a Data Center bulk change), `updated` goes back: batches done
    are no longer all older than the ones to come, so no checkpoint may be taken."""
    t = "2024-01-01T10:00:0{}.000Z".format
    ordered = ScopeListing(lambda: iter([item(1, t(1)), item(2, t(1)), item(3, t(2))]))
    ordered.run()
    assert ordered.clean  # equal moments are in order
    by_key = ScopeListing(lambda: iter([item(1, t(3)), item(2, t(1)), item(3, t(2))]))
    by_key.run()
    assert not by_key.clean and by_key.take(10) == ["1", "2", "3"]
    cloud = ScopeListing(lambda: iter([item(1), item(2)]))  # no `updated`: Jira's order
    cloud.run()
    assert cloud.clean

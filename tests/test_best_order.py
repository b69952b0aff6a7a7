"""order = "best": quotes with more engagement per post come sooner when the collection comes round again, the
same figures always give the same order, and no quote waits more than two rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from publisher.compose import next_quotes
from publisher.config import Campaign
from publisher.quotes import load_collection

CASEY = load_collection(REPO / "quotes" / "caseyreview.toml")
BEST = Campaign(name="best", collection="caseyreview", accounts=["local"], order="best", cooldown_days=1,
                quotes_per_thread=3)
START = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def run(campaign: Campaign, scores: dict[str, float], threads: int) -> list[list[str]]:
    """The quotes of ``threads`` threads a day apart, each chosen as the queue chooses them."""
    used: list[tuple[str, datetime]] = []
    chosen = []
    for day in range(threads):
        moment = START + timedelta(days=day)
        batch = next_quotes(campaign, CASEY, used, [moment], scores)[0]
        chosen.append([q.id for q in batch])
        used += [(q.id, moment) for q in batch]
    return chosen


def test_after_the_first_round_the_best_come_first() -> None:
    ids = [q.id for q in CASEY.quotes]
    scores = {quote_id: float(index) for index, quote_id in enumerate(ids)}  # the later quotes did better
    threads = run(BEST, scores, 9)
    assert [q for thread in threads[:7] for q in thread][:20] == ids  # never used: in the collection's order
    assert threads[6] == [ids[18], ids[19], ids[17]]  # the last two fresh, then the best out of its cooldown
    assert threads[7] == [ids[19], ids[18], ids[16]]  # round two: best first, each quote once a round
    evergreen = run(BEST.model_copy(update={"order": "evergreen"}), scores, 9)
    assert evergreen[6] == [ids[18], ids[19], ids[0]] and evergreen[7] == ids[1:4]  # evergreen: longest unused


def test_the_same_figures_give_the_same_order_and_ties_go_to_the_longest_unused() -> None:
    scores = {q.id: 1.0 for q in CASEY.quotes}
    assert run(BEST, scores, 20) == run(BEST, dict(scores), 20)
    round_two = [q for t in run(BEST, scores, 14) for q in t][20:40]
    assert round_two == [q for t in run(BEST, scores, 7) for q in t][:20]  # equal: the first round's order again


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=20, max_size=20),
       st.integers(min_value=1, max_value=5))
def test_no_quote_waits_more_than_two_rounds(values: list[float], per_thread: int) -> None:
    campaign = BEST.model_copy(update={"quotes_per_thread": per_thread})
    scores = {q.id: v for q, v in zip(CASEY.quotes, values, strict=True)}
    order = [q for thread in run(campaign, scores, 200 // per_thread) for q in thread]
    size = len(CASEY.quotes)
    for start in range(0, len(order) - size + 1, size):  # each round uses every quote once
        assert sorted(order[start : start + size]) == sorted(q.id for q in CASEY.quotes)
    last: dict[str, int] = {}
    for position, quote_id in enumerate(order):
        if quote_id in last:
            assert position - last[quote_id] < 2 * size, (quote_id, position)  # never two rounds' wait
        last[quote_id] = position


def test_scores_come_from_the_campaigns_own_posts(tmp_path: Path, run_cli: Any, project: Path) -> None:
    """The store's engagement per post: likes, reposts, replies and quotes of each quote's posts' latest readings,
    over the posts read (these threads are one part each: no reply of the thread's own to leave out)."""
    from publisher.store import Reading, Store

    for _ in range(2):
        assert run_cli("queue", "add", "--now").exit_code == 0 and run_cli("post").exit_code == 0
    with Store.open(project / "state" / "publisher.db") as store:
        parts = store.posted_for_results()
        carded = [p for p in parts if p.quote_ids]
        store.add_readings([Reading(carded[0].part_id, "1h", START, 1, 1, 1, None),
                            Reading(carded[0].part_id, "24h", START + timedelta(days=1), 4, 2, 2, None),
                            Reading(carded[1].part_id, "1h", START, 0, 0, 1, 0)])
        scores = store.engagement_per_post("daily")
    # the latest of the first: 4 + 2 + 2; the second: 1 reply; any other: not read
    assert scores == {carded[0].quote_ids[0]: 8.0, carded[1].quote_ids[0]: 1.0}

"""Card rendering speed, 1080×1080: warm ms/card, first card in a fresh process, peak RSS, 1 vs 2 processes.

Targets on a 2-core machine: <= 20 ms/card warm, <= 0.3 s first card, >= 1.8x cards/s on two processes.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
THEMES = ("campaign", "paper", "contrast")

FIRST_CARD = f"""
import time
start = time.perf_counter()
from pathlib import Path
from publisher.quotes import load_collection
from publisher.themes import load_theme
from publisher.render.card import CardRenderer
assets = Path({str(ASSETS)!r})
collection = load_collection(Path({str(REPO / "quotes" / "caseyreview.toml")!r}))
renderer = CardRenderer(load_theme(assets / "themes" / "campaign.toml", assets), assets)
png = renderer.render(collection, collection.quotes[0], "square").png
print(time.perf_counter() - start)
"""

BATCH = f"""
import sys, tempfile, time
from pathlib import Path
from publisher.quotes import load_collection
from publisher.themes import load_theme
from publisher.render.batch import render_to_files
assets = Path({str(ASSETS)!r})
collection = load_collection(Path({str(REPO / "quotes" / "caseyreview.toml")!r}))
theme = load_theme(assets / "themes" / "campaign.toml", assets)
with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    report = render_to_files(collection, theme, assets, [q.id for q in collection.quotes],
                             ["square", "portrait", "story", "landscape"], Path(out), workers=int(sys.argv[1]))
    print(len(report.written) / (time.perf_counter() - start))
"""


def fresh_process_first_card() -> tuple[float, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FIRST_CARD], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, float(done.stdout)


def warm_ms_per_card() -> tuple[float, int]:
    from publisher.quotes import load_collection
    from publisher.render.card import CardRenderer
    from publisher.themes import load_theme

    collection = load_collection(REPO / "quotes" / "caseyreview.toml")
    renderers = [CardRenderer(load_theme(ASSETS / "themes" / f"{t}.toml", ASSETS), ASSETS) for t in THEMES]
    for renderer in renderers:  # warm-up on another format: fonts, cmaps, word widths; no square line cached
        for quote in collection.quotes:
            renderer.render(collection, quote, "landscape")
    times = []
    for renderer in renderers:  # 60 distinct cards
        for quote in collection.quotes:
            start = time.perf_counter()
            renderer.render(collection, quote, "square")
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(times)


def cards_per_second(workers: int) -> float:
    done = subprocess.run([sys.executable, "-c", BATCH, str(workers)], capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    wall, inside = fresh_process_first_card()
    print(f"first card in a fresh process: {inside * 1000:.0f} ms from first import "
          f"({wall * 1000:.0f} ms including interpreter start; target <= 300 ms)")
    median, count = warm_ms_per_card()
    print(f"warm: median {median:.1f} ms/card over {count} distinct 1080x1080 cards (target <= 20 ms)")
    print(f"peak RSS of the warm process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    one, two = cards_per_second(1), cards_per_second(2)
    print(f"batch of 80 cards (4 formats): {one:.1f} cards/s on 1 process, {two:.1f} on 2 "
          f"({two / one:.2f}x; target >= 1.8x)")


if __name__ == "__main__":
    main()

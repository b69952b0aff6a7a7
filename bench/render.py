"""Card rendering speed, 1080×1080: warm ms per card against a naive Pillow renderer measured in the same run,
the first card in a fresh process (the CLI, as a user runs it), `publisher --help`, 20 square cards as whole
processes (ours and the naive renderer's, start-up included), peak memory, and cards per second on one process
and on two.

Targets on a 2-core machine (issue 25): warm median <= 15 ms and <= 0.30x the naive baseline; first card
<= 0.30 s; --help <= 150 ms; 20 cards as whole processes <= 0.30x the naive; two processes >= 1.8x one.
Each figure is also printed as a ROW line, from which bench/table.py makes the README's Performance table.

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import as_installed, row

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "publisher" / "bundled"
THEMES = ("campaign", "paper", "contrast")
RUNS = 5

BATCH = f"""
import sys, tempfile, time
from pathlib import Path
from publisher.quotes import load_collection
from publisher.themes import load_theme
from publisher.render.batch import render_to_files
from publisher.assets import Assets
assets = Assets.bundled_only()
collection = load_collection(Path({str(REPO / "quotes" / "caseyreview.toml")!r}))
theme = load_theme(assets.bundled / "themes" / "campaign.toml", assets)
with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    report = render_to_files(collection, theme, assets, [q.id for q in collection.quotes],
                             ["square", "portrait", "story", "landscape"], Path(out), workers=int(sys.argv[1]))
    print(len(report.written) / (time.perf_counter() - start))
"""


NAIVE_PROCESS = f"""
import sys, tomllib
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from render import naive_card
collection = tomllib.loads(Path({str(REPO / "quotes" / "caseyreview.toml")!r}).read_text("utf-8"))
font = Path({str(BUNDLED / "fonts" / "InterDisplay-SemiBold.otf")!r})
out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
for quote in collection["quotes"]:
    (out / (quote["id"] + ".png")).write_bytes(naive_card(quote["text"], collection["collection"]["attribution"], font))
"""


def naive_card(text: str, attribution: str, font_path: Path) -> bytes:
    """What a first attempt with Pillow looks like: one font, a greedy wrap, Image.save's PNG defaults."""
    from PIL import Image, ImageDraw, ImageFont

    ramp = Image.linear_gradient("L").resize((1080, 1080))  # the campaign theme's gradient, made for each card
    image = Image.composite(Image.new("RGB", (1080, 1080), (61, 15, 63)), Image.new("RGB", (1080, 1080), (28, 20, 70)),
                            ramp)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(font_path), 60)
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) > 912 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    y = 150
    for line in lines:
        draw.text((84, y), line, font=font, fill="white")
        y += 74
    draw.text((84, y + 40), attribution, font=ImageFont.truetype(str(font_path), 34), fill=(230, 222, 245))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def warm_and_naive() -> tuple[float, float, int]:
    """Median ms per card: ours (60 distinct square cards, 20 quotes x 3 themes, fonts and quotes already
    measured by a round of landscape cards, as a batch or the daemon would have them) and the naive one."""
    from publisher.quotes import load_collection
    from publisher.render.card import CardRenderer
    from publisher.themes import load_theme

    collection = load_collection(REPO / "quotes" / "caseyreview.toml")
    from publisher.assets import Assets

    assets = Assets.bundled_only()
    renderers = [CardRenderer(load_theme(BUNDLED / "themes" / f"{t}.toml", assets), assets) for t in THEMES]
    for renderer in renderers:
        for quote in collection.quotes:
            renderer.render(collection, quote, "landscape")
    ours, naive = [], []
    font = BUNDLED / "fonts" / "InterDisplay-SemiBold.otf"
    for renderer in renderers:
        for quote in collection.quotes:
            start = time.perf_counter()
            renderer.render(collection, quote, "square")
            ours.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            naive_card(quote.text, collection.attribution_for(quote), font)
            naive.append((time.perf_counter() - start) * 1000)
    return statistics.median(ours), statistics.median(naive), len(ours)


def command_seconds(args: list[str], cwd: Path) -> list[float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "publisher", *args], cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def cards_per_second(workers: int) -> float:
    """The median of three batches, each in a fresh process."""
    runs = [subprocess.run([sys.executable, "-c", BATCH, str(workers)], capture_output=True, text=True, check=True)
            for _ in range(3)]
    return statistics.median(float(done.stdout) for done in runs)


def main() -> None:
    as_installed()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        (folder / "quotes").mkdir()
        (folder / "quotes" / "caseyreview.toml").write_bytes((REPO / "quotes" / "caseyreview.toml").read_bytes())
        (folder / "schedule.toml").write_text('[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
        first = command_seconds(["render", "tackling-discrimination-legal-operational", "--format", "square",
                                 "-o", "cards", "--force"], folder)
        helps = command_seconds(["--help"], folder)
        ours_20 = command_seconds(["render", "--format", "square", "-o", "all-cards", "--force"], folder)
        naive_20 = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", NAIVE_PROCESS, str(folder / "naive")], check=True)
            naive_20.append(time.perf_counter() - start)
    print(f"first card, `publisher render ID --format square` in a fresh process: median "
          f"{statistics.median(first):.2f} s (min {min(first):.2f}; target <= 0.30 s)")
    row("first card in a fresh process (`publisher render ID --format square`)",
        f"{statistics.median(first):.2f} s", "≤ 0.30 s")
    print(f"`publisher --help`: median {statistics.median(helps) * 1000:.0f} ms (target <= 150 ms)")
    row("`publisher --help`", f"{statistics.median(helps) * 1000:.0f} ms", "≤ 150 ms")
    whole = statistics.median(ours_20) / statistics.median(naive_20)
    print(f"20 square cards as whole processes: `publisher render --format square` {statistics.median(ours_20):.2f} "
          f"s, the naive renderer {statistics.median(naive_20):.2f} s: {whole:.2f}x (target <= 0.30x)")
    row("20 square cards, whole processes (start-up included), against the naive renderer's",
        f"{statistics.median(ours_20):.2f} s against {statistics.median(naive_20):.2f} s: {whole:.2f}×", "≤ 0.30×")
    ours, naive, count = warm_and_naive()
    print(f"warm: median {ours:.1f} ms/card over {count} distinct 1080x1080 cards (target <= 15 ms); naive "
          f"Pillow baseline {naive:.1f} ms: {ours / naive:.2f}x (target <= 0.30x)")
    row("a card, warm (median of 60 distinct 1080×1080 cards)",
        f"{ours:.1f} ms; a naive Pillow renderer {naive:.1f} ms ({ours / naive:.2f}×)", "≤ 15 ms, ≤ 0.30×")
    print(f"peak RSS of the warm process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    one, two = cards_per_second(1), cards_per_second(2)
    print(f"batch of 80 cards (4 formats): {one:.1f} cards/s on 1 process, {two:.1f} on 2 "
          f"({two / one:.2f}x; target >= 1.8x) on {os.cpu_count()} cores")
    row("render batch of 80 cards: two processes against one",
        f"{one:.0f} cards/s on 1, {two:.0f} on 2: {two / one:.2f}×", "≥ 1.8×")


if __name__ == "__main__":
    main()

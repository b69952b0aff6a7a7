"""Wall time of `publisher preview` for a 4-part thread (intro + 3 quote cards), cards and the page's fonts
included, in a fresh process and project (target: under 3 s), and the bytes of fonts the page carries."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEDULE = """\
[accounts.local]
platform = "outbox"

[[campaigns]]
name = "bench"
collection = "caseyreview"
accounts = ["local"]
quotes_per_thread = 3
intro = "What the #CaseyReview found about the Met 🧵"
numbering = true
"""


def main() -> None:
    times, fonts = [], {}
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            shutil.copytree(REPO / "quotes", root / "quotes")
            (root / "schedule.toml").write_text(SCHEDULE, encoding="utf-8")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "publisher", "preview", "-o", "out"], cwd=root, check=True,
                           capture_output=True)
            times.append(time.perf_counter() - start)
            fonts = {p.name: p.stat().st_size for p in sorted((root / "out" / "fonts").iterdir())}
    print(f"publisher preview, 4-part thread with 3 cards, fresh process: median {statistics.median(times):.2f} s "
          f"over {len(times)} runs (max {max(times):.2f} s; target < 3 s)")
    print(f"the page's fonts: {sum(fonts.values()) / 1024:.1f} KiB ("
          + ", ".join(f"{name} {size / 1024:.1f}" for name, size in fonts.items()) + ")")


if __name__ == "__main__":
    main()

"""The README's Performance table, made from what the benchmarks print: runs bench/render.py, bench/pack.py and
bench/validate.py, collects their ROW lines and writes them between the table's markers in README.md (with the
date, Python and Pillow). Takes about two minutes on a 2-core machine.

    .venv/bin/python bench/table.py [--skip-large]
"""

from __future__ import annotations

import datetime
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
START, END = "<!-- performance table: bench/table.py writes it -->", "<!-- end of performance table -->"


def rows_of(script: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, check=True)
    sys.stdout.write(done.stdout)
    return [line.removeprefix("ROW ") for line in done.stdout.splitlines() if line.startswith("ROW | ")]


def main() -> None:
    import PIL

    rows = rows_of("render.py") + rows_of("pack.py", *sys.argv[1:]) + rows_of("validate.py")
    when = f"{datetime.date.today():%Y-%m-%d}, Python {platform.python_version()}, Pillow {PIL.__version__}"
    table = "\n".join([START, f"Measured by bench/table.py on {when}:", "", "| what | figure | target |",
                       "| --- | --- | --- |", *rows, END])
    text = README.read_text("utf-8")
    if START not in text:
        raise SystemExit(f"README.md has no {START!r} line to write the table after")
    README.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: table, text, flags=re.DOTALL),
                      encoding="utf-8")
    print(f"README.md: {len(rows)} rows written")


if __name__ == "__main__":
    main()

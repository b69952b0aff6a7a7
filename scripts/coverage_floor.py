"""The quick suite's coverage floor, which CI enforces (scripts/test): the lines of publisher/ the quick suite runs
in its own processes, in total and module by module, so that no module goes untested by the quick check.

Lines run only in other processes (the CLI run as a command, render workers, the daemon) are not counted: the
figures are a floor, not the whole story. Raise a floor when the suite grows; never lower one to pass.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import coverage
from coverage.exceptions import NoSource

TOTAL_FLOOR = 85.0  # per cent of publisher/'s statements
MODULE_FLOOR = 25.0  # per cent of each module's


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    cov = coverage.Coverage(data_file=str(root / ".coverage"), config_file=str(root / "pyproject.toml"))
    cov.load()
    total = cov.report(file=io.StringIO(), skip_empty=True)
    low = []
    for module in sorted((root / "publisher").rglob("*.py")):
        if module.name == "__main__.py":
            continue
        try:
            _, statements, _, missing, _ = cov.analysis2(str(module))
        except NoSource:
            continue
        if statements and (share := 100 * (len(statements) - len(missing)) / len(statements)) < MODULE_FLOOR:
            low.append(f"  {module.relative_to(root)}: {share:.0f}% of {len(statements)} statements")
    print(f"coverage of the quick suite: {total:.1f}% of publisher/ (floor {TOTAL_FLOOR:.0f}%), every module "
          f"at least {MODULE_FLOOR:.0f}%")
    if low:
        print("modules under the floor (add a quick test that runs them):", *low, sep="\n")
    if total < TOTAL_FLOOR:
        print(f"the total is under the floor of {TOTAL_FLOOR:.0f}%: add tests for what a change left untested")
    return 1 if low or total < TOTAL_FLOOR else 0


if __name__ == "__main__":
    sys.exit(main())

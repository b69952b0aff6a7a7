"""Cards still look as approved: each golden case compared with a tolerance (antialiasing may differ slightly)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from golden_cases import CASES, GOLDEN, case_name, render_case

MAX_MEAN_DIFFERENCE = 0.5  # per channel, 0-255
MAX_CHANGED_SHARE = 0.002  # of pixels differing by more than 48 in some channel


@pytest.mark.parametrize("case", CASES, ids=[case_name(c) for c in CASES])
def test_card_matches_golden(case: tuple[Path, str, str, str], tmp_path: Path) -> None:
    golden_path = GOLDEN / f"{case_name(case)}.png"
    assert golden_path.exists(), "no golden image: run scripts/refresh-golden and review it"
    rendered = Image.open(io.BytesIO(render_case(case))).convert("RGB")
    golden = Image.open(golden_path).convert("RGB")
    assert rendered.size == golden.size
    difference = ImageChops.difference(rendered, golden)
    histogram = difference.convert("L").histogram()
    pixels = rendered.width * rendered.height
    mean = sum(value * count for value, count in enumerate(histogram)) / pixels
    changed = sum(histogram[49:]) / pixels
    if mean > MAX_MEAN_DIFFERENCE or changed > MAX_CHANGED_SHARE:
        rendered.save(tmp_path / "rendered.png")
        difference.point(lambda v: min(255, v * 4)).save(tmp_path / "difference.png")
        pytest.fail(f"{case_name(case)} differs from golden: mean {mean:.2f}, changed {changed:.2%} "
                    f"(see {tmp_path}; refresh with scripts/refresh-golden if intended)")


def test_the_comparison_catches_a_real_change(tmp_path: Path) -> None:
    case = CASES[0]
    golden = Image.open(GOLDEN / f"{case_name(case)}.png").convert("RGB")
    altered = golden.copy()
    altered.paste((255, 0, 0), (100, 300, 400, 360))  # a red bar where text was
    histogram = ImageChops.difference(altered, golden).convert("L").histogram()
    assert sum(histogram[49:]) / (golden.width * golden.height) > MAX_CHANGED_SHARE

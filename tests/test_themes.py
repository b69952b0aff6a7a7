"""Theme files: validation, contrast refusal with the ratio, and references from collections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from publisher.errors import ExitStatus
from publisher.themes import contrast_ratio, rgb

BASE = """\
[theme]
name = "broken"

[colours]
background = ["#1c1446", "#3d0f3f"]
text = "#ffffff"
accent = "#ffd23f"
attribution = "#e6def5"
footer = "#d4c7ee"
brand = "#ffffff"

[fonts]
quote = "InterDisplay-SemiBold.otf"
brand = "Inter-Bold.otf"
attribution = "Inter-Regular.otf"
footer = "Inter-SemiBold.otf"

[layout]
min_quote_size = 36
"""

CASES = [
    ("low-contrast-large-text", BASE.replace('text = "#ffffff"', 'text = "#3a2a5a"').replace(
        "min_quote_size = 36", "min_quote_size = 48"),
     "assets/themes/broken.toml:6: colours.text: contrast 1.24:1 against the background is below WCAG's 3.0:1 "
     "(choose a colour further from the background)"),
    ("low-contrast-footer", BASE.replace('footer = "#d4c7ee"', 'footer = "#7a6a9a"'),
     "assets/themes/broken.toml:9: colours.footer: contrast 3.25:1 against the background is below WCAG's 4.5:1 "
     "(choose a colour further from the background: text this size needs 4.5:1)"),
    ("small-quote-needs-4.5", BASE.replace('text = "#ffffff"', 'text = "#8f80b8"'),
     "assets/themes/broken.toml:6: colours.text: contrast 4.44:1 against the background is below WCAG's 4.5:1 "
     "(choose a colour further from the background: text this size needs 4.5:1)"),
    ("bad-colour", BASE.replace('accent = "#ffd23f"', 'accent = "yellow"'),
     'assets/themes/broken.toml:7: colours.accent: "yellow" is not a colour (write it as "#rrggbb", e.g. "#1b1f3b")'),
    ("missing-font", BASE.replace('"Inter-Bold.otf"', '"Inter-Blod.otf"'),
     'assets/themes/broken.toml:14: fonts.brand: no font "Inter-Blod.otf" in assets/fonts/ or publisher\'s '
     'bundled fonts (did you mean "Inter-Bold.otf"?)'),
    ("unknown-key", BASE.replace("[layout]", "[layout]\nalign_text = \"left\""),
     'assets/themes/broken.toml:19: layout.align_text: unknown key (did you mean "align"?)'),
    ("bad-align", BASE.replace("[layout]", "[layout]\nalign = \"justify\""),
     "assets/themes/broken.toml:19: layout.align: input should be 'left' or 'center'"),
    ("three-stop-gradient", BASE.replace('["#1c1446", "#3d0f3f"]', '["#1c1446", "#3d0f3f", "#000000"]'),
     'assets/themes/broken.toml:5: colours.background: a gradient has exactly two colours '
     '(write background = ["#top", "#bottom"] or one colour)'),
    ("missing-logo", BASE + '\n[brand]\nlogo = "logos/nope.png"\n',
     'assets/themes/broken.toml:22: brand.logo: no file "logos/nope.png" in assets/ '
     "(give a PNG path relative to assets/, e.g. logos/mark.png)"),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_theme(project: Path, run_cli: Callable[..., Result], content: str, expected: str) -> None:
    (project / "assets" / "themes" / "broken.toml").write_text(content, encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [expected]


def test_gradient_contrast_uses_the_worst_stop(project: Path, run_cli: Callable[..., Result]) -> None:
    # Fine against the dark top, too faint against a light bottom stop.
    content = BASE.replace('["#1c1446", "#3d0f3f"]', '["#1c1446", "#c8c8c8"]')
    (project / "assets" / "themes" / "broken.toml").write_text(content, encoding="utf-8")
    result = run_cli("validate")
    worst = contrast_ratio(rgb("#ffffff"), rgb("#c8c8c8"))
    assert f"colours.text: contrast {worst:.2f}:1" in result.stderr


def test_collection_naming_a_missing_theme(project: Path, run_cli: Callable[..., Result]) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace('[collection]\n', '[collection]\ntheme = "campain"\n'),
                    encoding="utf-8")
    result = run_cli("validate")
    assert result.stderr == ('quotes/caseyreview.toml:7: collection.theme: no theme "campain" '
                             '(did you mean "campaign"?)\n')


def test_contrast_ratio_matches_wcag_examples() -> None:
    assert round(contrast_ratio(rgb("#000000"), rgb("#ffffff")), 2) == 21.0
    assert round(contrast_ratio(rgb("#777777"), rgb("#ffffff")), 2) == 4.48
    assert contrast_ratio(rgb("#123456"), rgb("#123456")) == 1.0


def test_bundled_themes_validate(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("3 themes")

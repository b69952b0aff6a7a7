"""Golden cards: the cases, how to render them, and (run as a script) how to refresh them deliberately.

    scripts/refresh-golden      # re-render every golden PNG after an intended visual change; review the diff
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
BUNDLED = REPO / "publisher" / "bundled"
FORMATS = ("square", "portrait", "story", "landscape")

# (collection file, quote id, theme, format)
CASES: list[tuple[Path, str, str, str]] = [
    *((REPO / "quotes" / "caseyreview.toml", "met-yet-free-itself-institutional", theme, fmt)
      for theme in ("campaign", "paper", "contrast") for fmt in FORMATS),
    *((REPO / "tests" / "data" / "multilingual.toml", quote_id, "campaign", "square")
      for quote_id in ("arabic", "chinese", "emoji")),
    *((REPO / "tests" / "data" / "scripts.toml", quote_id, "paper", "portrait")
      for quote_id in ("hindi", "thai", "long-url")),
]


def case_name(case: tuple[Path, str, str, str]) -> str:
    _, quote_id, theme, fmt = case
    return f"{theme}-{fmt}-{quote_id}"


def render_case(case: tuple[Path, str, str, str]) -> bytes:
    from publisher.assets import Assets
    from publisher.quotes import load_collection
    from publisher.render.card import CardRenderer
    from publisher.themes import load_theme

    collection_file, quote_id, theme, fmt = case
    collection = load_collection(collection_file)
    quote = collection.quote(quote_id)
    assert quote is not None, quote_id
    assets = Assets.bundled_only()
    renderer = CardRenderer(load_theme(BUNDLED / "themes" / f"{theme}.toml", assets), assets)
    return renderer.render(collection, quote, fmt).png


def refresh() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for case in CASES:
        path = GOLDEN / f"{case_name(case)}.png"
        path.write_bytes(render_case(case))
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    refresh()

"""Image packs: contents read back, CSV parsed back, determinism, failure and Ctrl-C leave nothing, Chromium."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from PIL import Image

from conftest import BUNDLED, REPO, axe_violations, fonts_drawing, load_all_images, page_width_at
from publisher.app import Project
from publisher.errors import ExitStatus
from publisher.pack import THUMB_WIDTH, ContactSheets
from publisher.platforms import rules_for
from publisher.quotes import load_collection

CASEY = load_collection(REPO / "quotes" / "caseyreview.toml")
FORMATS = ("square", "portrait", "story", "landscape")
CARD_SIZES = {"square": (1080, 1080), "portrait": (1080, 1350), "story": (1080, 1920), "landscape": (1200, 675)}


@pytest.fixture(scope="module")
def full_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pack")
    (folder / "quotes").mkdir()
    (folder / "quotes" / "caseyreview.toml").write_bytes((REPO / "quotes" / "caseyreview.toml").read_bytes())
    out = folder / "caseyreview-pack.zip"
    Project(folder / "schedule.toml").pack(out, "caseyreview")
    return out


def test_pack_contents(full_pack: Path) -> None:
    with zipfile.ZipFile(full_pack) as archive:
        names = archive.namelist()
        expected_cards = [f"{fmt}/{n:02d}-{q.id}.png" for fmt in FORMATS for n, q in enumerate(CASEY.quotes, 1)]
        # a format's contact sheet page goes in when it is full, or (the last, or only, page) at the end
        assert names == [*expected_cards, *(f"contact-sheet-{fmt}.jpg" for fmt in FORMATS), "captions.csv",
                         "alt-text.txt", "README.txt", "index.html", "fonts/Inter-Regular.woff",
                         "fonts/Inter-Bold.woff"]
        for name in expected_cards:
            assert Image.open(io.BytesIO(archive.read(name))).size == CARD_SIZES[name.split("/")[0]]
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        raw_csv = archive.read("captions.csv")
        assert raw_csv.startswith(b"\xef\xbb\xbf")  # BOM, so spreadsheet programs read UTF-8
        rows = list(csv.DictReader(io.StringIO(raw_csv.decode("utf-8-sig"), newline="")))
        readme = archive.read("README.txt").decode()
        alt = archive.read("alt-text.txt").decode()
        sheets = [Image.open(io.BytesIO(archive.read(f"contact-sheet-{fmt}.jpg"))) for fmt in FORMATS]
        for sheet in sheets:
            sheet.load()
    assert [r["id"] for r in rows] == [q.id for q in CASEY.quotes]
    assert [r["quote"] for r in rows] == [q.text for q in CASEY.quotes]
    for row in rows:
        assert rules_for("x").measure(row["x_post"]).fits and rules_for("bluesky").measure(row["bluesky_post"]).fits
        assert "#CaseyReview" in row["x_post"] and "#CaseyReview" in row["bluesky_post"]
        assert "@metpoliceuk" in row["x_post"] and "@metpoliceuk" not in row["bluesky_post"]
        assert rules_for("mastodon").measure(row["mastodon_post"]).fits and "#CaseyReview" in row["mastodon_post"]
        assert "@metpoliceuk" not in row["mastodon_post"]  # the collection maps it to no Mastodon handle
        assert row["alt_text"].startswith("Quote: “") and row["attribution"] in row["alt_text"]
        assert row["square_file"] == f"square/{row['number']}-{row['id']}.png"
    assert "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)" in readme
    assert "Hashtags: #CaseyReview #accountability" in readme and "ALT" in readme
    assert [line.split(":")[0].strip() for line in readme.splitlines() if "attach the image" in line] == [
        "X", "Bluesky", "Mastodon"]  # how to post by hand, for each platform with a captions column
    assert alt.count("\n\n") == 20 and alt.startswith(f"01 {CASEY.quotes[0].id}\nQuote: “")
    for sheet in sheets:  # 20 cards of a format, 8 across
        assert sheet.width == 8 * (THUMB_WIDTH + 10) + 10
        assert sheet.format == "JPEG" and sheet.mode == "RGB"
    assert "  contact-sheet-square.jpg  every square card at a glance\n" in readme
    assert "  contact-sheet-landscape.jpg  every landscape card at a glance\n" in readme


def test_each_contact_sheet_holds_one_format_in_cells_of_its_shape(full_pack: Path) -> None:
    with zipfile.ZipFile(full_pack) as archive:
        sheets = {name: Image.open(io.BytesIO(archive.read(name))).convert("RGB") for name in archive.namelist()
                  if name.startswith("contact-sheet")}
    assert list(sheets) == [f"contact-sheet-{fmt}.jpg" for fmt in FORMATS]  # 20 cards each: one page
    for fmt in FORMATS:
        sheet = sheets[f"contact-sheet-{fmt}.jpg"]
        width, height = CARD_SIZES[fmt]
        thumb_height = round(height * THUMB_WIDTH / width)
        cell_height = thumb_height + 30  # the thumbnail and its label
        # 8 across, 3 rows, every cell that format's shape: a cell sized for a taller format would leave a band
        assert sheet.size == (8 * (THUMB_WIDTH + 10) + 10, 3 * (cell_height + 10) + 10)
        for cell in range(20):
            x, y = 10 + cell % 8 * (THUMB_WIDTH + 10), 10 + cell // 8 * (cell_height + 10)
            # the card fills its cell down to the label: dark card just above, white paper just below
            assert sum(sheet.getpixel((x + 4, y + thumb_height - 4))) < 300, (fmt, cell)
            assert sum(sheet.getpixel((x + 4, y + thumb_height + 2))) > 700, (fmt, cell)


def test_a_formats_contact_sheet_pages_are_numbered_only_when_it_has_more_than_one() -> None:
    written: list[tuple[str, tuple[int, int]]] = []
    sheets = ContactSheets(BUNDLED / "fonts" / "Inter-Regular.otf",
                           lambda name, jpeg: written.append((name, Image.open(io.BytesIO(jpeg)).size)))
    story, landscape = (THUMB_WIDTH, 356), (THUMB_WIDTH, 112)
    for number in range(1, 42):
        sheets.add("story", f"{number:02d} story", (bytes(3 * story[0] * story[1]), story))
    for number in range(1, 4):
        sheets.add("landscape", f"{number:02d} landscape", (bytes(3 * landscape[0] * landscape[1]), landscape))
    assert written == []  # the full first page is held until a second shows it must be numbered
    assert sheets.finish() == {"story": 2, "landscape": 1}
    assert written == [("contact-sheet-story-01.jpg", (8 * 210 + 10, 5 * (356 + 40) + 10)),
                       ("contact-sheet-story-02.jpg", (210 + 10, 356 + 40 + 10)),
                       ("contact-sheet-landscape.jpg", (3 * 210 + 10, 112 + 40 + 10))]


def test_contact_sheet_is_full_colour(full_pack: Path) -> None:
    with zipfile.ZipFile(full_pack) as archive:
        sheet = Image.open(io.BytesIO(archive.read("contact-sheet-square.jpg"))).convert("RGB")
        card = Image.open(io.BytesIO(archive.read(f"square/01-{CASEY.quotes[0].id}.png"))).convert("RGB")
    assert len(sheet.getcolors(maxcolors=1 << 24) or []) > 4096  # a palette has at most 256: gradients band
    # the first thumbnail's gradient, down its left margin: close to the card's, and a ramp (256 colours for the
    # whole sheet left it 4 steps here), not bands
    thumb = sheet.crop((10, 10, 10 + THUMB_WIDTH, 10 + THUMB_WIDTH))
    rows = range(10, THUMB_WIDTH - 10, 2)
    down_thumb = [thumb.getpixel((4, y)) for y in rows]
    down_card = [card.getpixel((20, y * card.height // THUMB_WIDTH)) for y in rows]
    assert max(abs(a - b) for p, q in zip(down_thumb, down_card, strict=True) for a, b in zip(p, q, strict=True)) < 10
    assert len(set(down_thumb)) > 15


@pytest.mark.heavy  # a second whole pack
def test_pack_is_deterministic(full_pack: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    Project(full_pack.parent / "schedule.toml").pack(again, "caseyreview")
    assert again.read_bytes() == full_pack.read_bytes()


@pytest.mark.heavy  # two whole packs and two renders, each in its own process
def test_packs_and_cards_are_the_same_bytes_on_one_worker_or_two(tmp_path: Path) -> None:
    (tmp_path / "quotes").mkdir()
    (tmp_path / "quotes" / "caseyreview.toml").write_bytes((REPO / "quotes" / "caseyreview.toml").read_bytes())
    (tmp_path / "schedule.toml").write_text('[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    made = {}
    for workers in ("1", "2"):
        env = {**os.environ, "PUBLISHER_WORKERS": workers}
        for args in (["pack", "-o", f"pack-{workers}.zip"], ["render", "--format", "all", "-o", f"cards-{workers}"]):
            done = subprocess.run([sys.executable, "-m", "publisher", *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        cards = sorted((tmp_path / f"cards-{workers}").iterdir())
        made[workers] = ((tmp_path / f"pack-{workers}.zip").read_bytes(),
                         [(card.name, card.read_bytes()) for card in cards])
    assert len(made["1"][1]) == 160  # 20 quotes x 4 formats, PNG and alt text
    assert made["1"] == made["2"]


def long_quote_project(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    text = " ".join(["Accountability requires sustained scrutiny of every part of the organisation."] * 12)
    path.write_text(path.read_text("utf-8") + f'\n[[quotes]]\nid = "far-too-long"\ntext = "{text}"\n',
                    encoding="utf-8")


def test_a_card_that_cannot_be_made_stops_the_pack(project: Path, run_cli: Callable[..., Result]) -> None:
    long_quote_project(project)
    result = run_cli("pack", "--formats", "square,landscape", "-o", "out/pack.zip")
    assert result.exit_code == ExitStatus.CONFIG
    lines = result.stderr.splitlines()
    assert lines[0].startswith('quote "far-too-long" does not fit the square card')
    assert lines[-1].startswith("no pack was written (use --skip-failing")
    assert not (project / "out").exists() or list((project / "out").iterdir()) == []


def test_skip_failing_writes_the_rest_and_says_so(project: Path, run_cli: Callable[..., Result]) -> None:
    long_quote_project(project)
    result = run_cli("pack", "--formats", "square,story", "--skip-failing", "-o", "pack.zip")
    assert result.exit_code == 0, result.output
    assert "Wrote pack.zip: 41 cards, 1 skipped (listed in its README.txt)." in result.stdout
    with zipfile.ZipFile(project / "pack.zip") as archive:
        readme = archive.read("README.txt").decode()
        names = archive.namelist()
    assert "story/21-far-too-long.png" in names and "square/21-far-too-long.png" not in names
    assert 'Cards left out (they could not be made at a readable size):\n  - quote "far-too-long" does not fit' \
        in readme


def test_interrupted_pack_leaves_nothing(project: Path) -> None:
    calls = []

    def interrupt(step: int) -> None:
        calls.append(step)
        if len(calls) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Project(project / "schedule.toml").pack(project / "pack.zip", "caseyreview", formats=["square"],
                                                progress=interrupt)
    assert sorted(p.name for p in project.iterdir()) == ["assets", "quotes", "schedule.toml"]


def test_pack_index_in_chromium(full_pack: Path, tmp_path: Path, browser: Any) -> None:
    with zipfile.ZipFile(full_pack) as archive:
        archive.extractall(tmp_path)
    browser.get((tmp_path / "index.html").as_uri())
    widths = load_all_images(browser)
    assert len(widths) == 80 and all(w in (1080, 1200) for w in widths)
    assert browser.execute_script("return document.querySelectorAll('section.card').length") == 20
    copies = browser.execute_script("return document.querySelectorAll('button[data-copy]').length")
    assert copies == 80  # X, Bluesky, Mastodon and plain
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert axe_violations(browser) == []
    assert page_width_at(browser, 320) <= 320
    sheets = browser.execute_script("return [...document.querySelectorAll('header a')].map(a => a.href)")
    assert sheets == [(tmp_path / f"contact-sheet-{fmt}.jpg").as_uri() for fmt in FORMATS]
    assert all((tmp_path / f"contact-sheet-{fmt}.jpg").is_file() for fmt in FORMATS)
    assert browser.execute_async_script("const done = arguments[0]; document.fonts.ready.then(() => done("
                                        "[...document.fonts].map(f => f.status)))") == ["loaded", "loaded"]
    assert set(fonts_drawing(browser, "#q01 .text p")) == {"Inter-Regular (web font)"}
    assert set(fonts_drawing(browser, "#q01 h2")) == {"Inter-Bold (web font)"}
    browser.execute_script("document.querySelector('button[data-copy]').click()")
    assert browser.execute_script("return document.querySelector('button[data-copy]').textContent") == "Copied"
    assert set(fonts_drawing(browser, "button[data-copy]")) == {"Inter-Regular (web font)"}  # "Copied" is too

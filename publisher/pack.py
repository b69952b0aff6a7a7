"""Image packs for campaigners who post by hand: every card in every format, with captions and alt text, as one
deterministic ZIP (the same inputs give the same bytes)."""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from publisher.assets import Assets
from publisher.compose import compose_thread
from publisher.config import Campaign
from publisher.errors import BatchFailed, ConfigError, Problem, PublisherError
from publisher.faults import checkpoint
from publisher.fileio import replacing
from publisher.platforms import known, rules_for
from publisher.quotes import Collection, Quote
from publisher.render.batch import CardFailed, render_cards
from publisher.render.card import alt_text
from publisher.text import counted
from publisher.themes import Theme
from publisher.webfonts import FOLDER, PageFonts, ThemeFonts, cut_fonts

FOLDER_NOTES = {
    "square": "  square/     1080x1080, for timelines (X, Bluesky, Instagram, Facebook)",
    "portrait": "  portrait/   1080x1350, takes more of a phone screen in a feed",
    "story": "  story/      1080x1920, for stories and status updates (nothing important near the top or bottom)",
    "landscape": "  landscape/  1200x675, the shape X and Bluesky show whole in a timeline",
}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # every entry's timestamp, so the same pack is the same bytes
THUMB_WIDTH = 200
SHEET_COLUMNS = 8
SHEET_PAGE = 40  # cards of one format on one contact-sheet page: 5 rows of 8
SHEET_QUALITY = 85


@dataclass
class PackReport:
    path: Path
    cards: int
    skipped: list[str] = field(default_factory=list)  # one line per card that could not be rendered


PACK_COMMENT = b"publisher image pack"  # in every pack's ZIP comment: how a pack is known, to be replaced


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe before anything it would run as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


_PACK_ENTRY = re.compile(r"(square|portrait|story|landscape)/\d+-[a-z0-9-]+\.png|fonts/[\w.-]+\.woff2?|"
                         r"contact-sheet(-(square|portrait|story|landscape))?(-\d+)?\.(jpg|png)|"
                         r"captions\.csv|alt-text\.txt|README\.txt|index\.html")


def is_pack(path: Path) -> bool:
    """Whether ``path`` is an image pack publisher wrote (so writing a new one over it loses nothing)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.comment.startswith(PACK_COMMENT):
                return True
            # a pack made before packs were marked: nothing in it but what a pack holds
            names = archive.namelist()
            return "captions.csv" in names and all(_PACK_ENTRY.fullmatch(name) for name in names)
    except (OSError, zipfile.BadZipFile):
        return False


def _entry(archive: zipfile.ZipFile, name: str, data: bytes, compress: bool = True) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED  # PNGs are compressed already
    info.external_attr = 0o644 << 16
    info.create_system = 3
    archive.writestr(info, data, compresslevel=9 if compress else None)


def post_text(campaign: Campaign, collection: Collection, quote: Quote, platform: str) -> str:
    """A ready-to-paste post for one card: the campaign's caption, shortened (never split) to fit the
    platform's default rules."""
    rules = rules_for(platform)
    single = campaign.model_copy(update={"intro": None, "outro": None, "numbering": False, "split": False})
    text = compose_thread(single, collection, [quote], "pack", rules, "pack").parts[0].text
    words = quote.text.split()
    while not rules.measure(text).fits and words:
        words = words[:-1]  # shorten the quote, keep the hashtags and mentions
        shortened = quote.model_copy(update={"text": " ".join(words).rstrip(",;:") + "…"})
        text = compose_thread(single, collection, [shortened], "pack", rules, "pack").parts[0].text
    return text


def build_pack(collection: Collection, campaign: Campaign, theme: Theme, assets: Assets, formats: Sequence[str],
               out: Path, skip_failing: bool = False, progress: Callable[[int], None] | None = None,
               source: str = "") -> PackReport:
    """Render every card (on every core) straight into a ZIP written beside ``out`` and renamed over it at the
    end: memory stays flat however many cards there are, and an error, Ctrl-C or SIGTERM leaves no partial pack
    and no stray files."""
    quotes = collection.without_drafts().quotes  # a volunteer posts what is in the pack: never a draft
    if not quotes:
        raise ConfigError([Problem(Path(source or collection.name), "every quote is a draft (draft = true), and a "
                                   "pack holds no draft", fix="review each quote, then delete its draft line")])
    numbers = {quote.id: number for number, quote in enumerate(quotes, start=1)}
    jobs = [(quote.id, fmt) for fmt in formats for quote in quotes]  # a folder per format, collection order
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as temp, zipfile.ZipFile(temp, "w") as archive:
        archive.comment = PACK_COMMENT
        files: dict[tuple[str, str], str] = {}
        failures: list[CardFailed] = []
        sheets = ContactSheets(assets.font(theme.fonts.footer),
                               lambda name, page: _entry(archive, name, page, compress=False))
        texts: PackTexts | None = None
        for index, result in enumerate(render_cards(collection, theme, assets, jobs, thumbnail_width=THUMB_WIDTH)):
            if index == 1:  # the workers are rendering the rest: write the posts and cut the fonts meanwhile
                texts = PackTexts.of(collection, campaign, theme, assets, quotes, formats)
            if progress:
                progress(1)
            if isinstance(result, CardFailed):
                failures.append(result)
                continue
            quote_id, fmt = result.layout.quote_id, result.layout.format
            name = _card_name(fmt, numbers[quote_id], quote_id)
            _entry(archive, name, result.png, compress=False)
            checkpoint("pack:written")  # a test may stop the command here, mid-pack
            files[(quote_id, fmt)] = name
            assert result.thumbnail is not None
            sheets.add(fmt, f"{numbers[quote_id]:02d} {fmt}", result.thumbnail)
        if failures and not files:
            raise BatchFailed([*failures, PublisherError("no card could be made, so no pack was written")])
        if failures and not skip_failing:
            raise BatchFailed([*failures, PublisherError(
                "no pack was written (use --skip-failing to write the other cards and list these in README.txt)")])
        skipped = [str(f) for f in failures]
        pages = sheets.finish()
        texts = texts or PackTexts.of(collection, campaign, theme, assets, quotes, formats)
        texts.write(archive, collection, theme, formats, files, skipped, source, pages)
    return PackReport(out, len(files), skipped)


@dataclass
class PackTexts:
    """The captions and alt text of every quote, and the index page's fonts: made while the cards render (the
    X length counter alone takes half a second to load)."""

    rows: list[dict[str, str]]
    fonts: PageFonts

    @classmethod
    def of(cls, collection: Collection, campaign: Campaign, theme: Theme, assets: Assets, quotes: list[Quote],
           formats: Sequence[str]) -> PackTexts:
        columns = {platform.caption_column: name for name, platform in known().items() if platform.caption_column}
        rows = [{
            "number": f"{number:02d}", "id": quote.id, "quote": quote.text,
            "attribution": collection.attribution_for(quote),
            **{column: post_text(campaign, collection, quote, name) for column, name in columns.items()},
            "alt_text": alt_text(collection, quote)} for number, quote in enumerate(quotes, 1)]
        # planned on the page as it is with every card: a card left out only takes characters away
        every_card = _with_files(rows, formats, {(q.id, fmt): _card_name(fmt, n, q.id)
                                                 for n, q in enumerate(quotes, 1) for fmt in formats})
        sheets = {fmt: -(-len(quotes) // SHEET_PAGE) for fmt in formats}  # planned: the links' words and digits
        fonts = cut_fonts(ThemeFonts.of(theme, assets).plan(_index(collection, every_card, formats, sheets)))
        return cls(rows, fonts)

    def write(self, archive: zipfile.ZipFile, collection: Collection, theme: Theme, formats: Sequence[str],
              files: dict[tuple[str, str], str], skipped: list[str], source: str, sheets: Mapping[str, int]) -> None:
        """The captions, alt text, README and the offline index page (with its fonts)."""
        rows = _with_files(self.rows, formats, files)
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows([{key: spreadsheet_safe(value) for key, value in row.items()} for row in rows])
        _entry(archive, "captions.csv", ("\ufeff" + table.getvalue()).encode("utf-8"))
        _entry(archive, "alt-text.txt", "".join(
            f"{r['number']} {r['id']}\n{r['alt_text']}\n\n" for r in rows).encode("utf-8"))
        _entry(archive, "README.txt", _readme(collection, theme, formats, len(rows), len(files), skipped, source,
                                              sheets).encode("utf-8"))
        _entry(archive, "index.html", _index(collection, rows, formats, sheets, self.fonts.css).encode("utf-8"))
        for font in self.fonts.fonts:  # WOFF is compressed already
            _entry(archive, f"{FOLDER}/{font.file}", font.data, compress=False)


def _card_name(fmt: str, number: int, quote_id: str) -> str:
    return f"{fmt}/{number:02d}-{quote_id}.png"


def _with_files(rows: list[dict[str, str]], formats: Sequence[str],
                files: dict[tuple[str, str], str]) -> list[dict[str, str]]:
    return [{**row, **{f"{fmt}_file": files.get((row["id"], fmt), "") for fmt in formats}} for row in rows]


def sheet_name(fmt: str, number: int, pages: int) -> str:
    """``contact-sheet-square.jpg`` for a format with one page, else ``contact-sheet-square-01.jpg`` and on."""
    return f"contact-sheet-{fmt}.jpg" if pages == 1 else f"contact-sheet-{fmt}-{number:02d}.jpg"


@dataclass
class _FormatPages:
    """One format's contact sheet so far: the page being filled, and how many are made."""

    cells: list[tuple[str, tuple[bytes, tuple[int, int]]]] = field(default_factory=list)
    pages: int = 0
    first: bytes | None = None  # the first page, held until a second shows whether it must be numbered


class ContactSheets:
    """Every card as a labelled thumbnail, in full colour (a palette would band the gradients), as JPEG pages of
    ``SHEET_PAGE`` cards of one format, so every cell has that format's shape and no short card sits beside an
    empty band: each page is made when it is full and handed to ``write(file name, jpeg)``, so memory holds at
    most a page per format whatever the pack's size."""

    def __init__(self, label_font: Path, write: Callable[[str, bytes], None]):
        self.label_font = label_font
        self.write = write
        self.formats: dict[str, _FormatPages] = {}

    def add(self, fmt: str, label: str, thumbnail: tuple[bytes, tuple[int, int]]) -> None:
        sheet = self.formats.setdefault(fmt, _FormatPages())
        sheet.cells.append((label, thumbnail))
        if len(sheet.cells) == SHEET_PAGE:
            self._page(fmt, sheet)

    def finish(self) -> dict[str, int]:
        """The last pages written; how many pages each format has, in the order the formats came."""
        for fmt, sheet in self.formats.items():
            if sheet.cells:
                self._page(fmt, sheet)
            if sheet.first is not None:
                self.write(sheet_name(fmt, 1, 1), sheet.first)
        return {fmt: sheet.pages for fmt, sheet in self.formats.items()}

    def _page(self, fmt: str, sheet: _FormatPages) -> None:
        from PIL import Image, ImageDraw

        from publisher.render.fonts import load_font

        columns = min(SHEET_COLUMNS, len(sheet.cells))
        cell_height = max(size[1] for _, (_, size) in sheet.cells) + 30
        page = Image.new("RGB", (columns * (THUMB_WIDTH + 10) + 10,
                                 -(-len(sheet.cells) // columns) * (cell_height + 10) + 10), "white")
        draw = ImageDraw.Draw(page)
        font = load_font(self.label_font, 15)
        for index, (label, (pixels, size)) in enumerate(sheet.cells):
            x = 10 + (index % columns) * (THUMB_WIDTH + 10)
            y = 10 + (index // columns) * (cell_height + 10)
            page.paste(Image.frombytes("RGB", size, pixels), (x, y))
            draw.text((x, y + size[1] + 5), label, fill=(30, 30, 30), font=font)
        buffer = io.BytesIO()
        page.save(buffer, "JPEG", quality=SHEET_QUALITY, optimize=True)
        sheet.pages += 1
        sheet.cells = []
        if sheet.pages == 1:
            sheet.first = buffer.getvalue()
            return
        if sheet.first is not None:
            self.write(sheet_name(fmt, 1, 2), sheet.first)
            sheet.first = None
        self.write(sheet_name(fmt, sheet.pages, sheet.pages), buffer.getvalue())


def _readme(collection: Collection, theme: Theme, formats: Sequence[str], quotes: int, cards: int,
            skipped: list[str], source: str, sheets: Mapping[str, int]) -> str:
    info = collection.collection
    tags = " ".join("#" + t for t in info.hashtags)
    posting = [platform for platform in known().values() if platform.caption_column]
    labels = [platform.label for platform in posting]
    lines = [
        f"{info.title}: image pack",
        "=" * (len(info.title) + 12),
        "",
        f"{counted(cards, 'quote card')} ({counted(quotes, 'quote')} x {counted(len(formats), 'format')}), "
        f"theme \"{theme.name}\", made with publisher"
        + (f" from {source}" if source else "") + ".",
        "",
        f"Source and attribution: {collection.general_attribution()}"
        + (f" ({info.source_url})" if info.source_url else ""),
        "Please keep the attribution with every quote you share.",
        "",
        "What is inside",
        *(FOLDER_NOTES[f] for f in formats),
        "  captions.csv     each quote with a ready-to-paste post for each of " + ", ".join(labels)
        + " (open it in a spreadsheet)",
        "  alt-text.txt     the description of every card, for people who use screen readers",
        *(_sheet_note(fmt, pages) for fmt, pages in sheets.items()),
        "  index.html       every card with its captions and copy buttons (opens offline in any browser)",
        "  fonts/           the card fonts index.html shows its text in",
        "",
        "How to post with alt text",
        *(f"  {platform.label}: {platform.posting_by_hand}" for platform in posting),
        "  Every post in captions.csv already fits its platform's length limit.",
        "",
        f"Hashtags: {tags}" if tags else "Hashtags: none",
    ]
    if skipped:
        lines += ["", "Cards left out (they could not be made at a readable size):"] + [f"  - {s}" for s in skipped]
    return "\n".join(lines) + "\n"


_COPY_SCRIPT = """
document.querySelectorAll('button[data-copy]').forEach(function (button) {
  button.addEventListener('click', function () {
    var text = document.getElementById(button.dataset.copy).textContent;
    var done = function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = button.dataset.label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, done); return; }
    var area = document.createElement('textarea'); area.value = text; document.body.appendChild(area);
    area.select(); try { document.execCommand('copy'); } catch (e) {} document.body.removeChild(area); done();
  });
});
"""


def _sheet_note(fmt: str, pages: int) -> str:
    """README.txt's line for one format's contact sheet pages."""
    if pages == 1:
        return f"  {sheet_name(fmt, 1, 1)}  every {fmt} card at a glance"
    return (f"  {sheet_name(fmt, 1, pages)} ... -{pages:02d}.jpg  every {fmt} card at a glance, {SHEET_PAGE} "
            "to a page")


def _sheet_links(sheets: Mapping[str, int]) -> str:
    links = [(sheet_name(fmt, n, pages), fmt if pages == 1 else f"{fmt} page {n}")
             for fmt, pages in sheets.items() for n in range(1, pages + 1)]
    if len(links) == 1:
        return f'<a href="{links[0][0]}">the contact sheet</a>'
    return "the contact sheets, " + ", ".join(f'<a href="{name}">{text}</a>' for name, text in links)


def _index(collection: Collection, rows: list[dict[str, str]], formats: Sequence[str], sheets: Mapping[str, int],
           fonts_css: str = "") -> str:
    cards = []
    for row in rows:
        number = row["number"]
        images = "".join(
            f'<figure><a href="{html.escape(row[f + "_file"])}" download><img src="{html.escape(row[f + "_file"])}" '
            f'alt="{html.escape(row["alt_text"])}" loading="lazy"></a><figcaption>{html.escape(f)} · '
            f"download</figcaption></figure>" for f in formats if row[f + "_file"])
        texts = ""
        posts = [(platform.caption_column, f"{platform.label} post") for platform in known().values()
                 if platform.caption_column]
        for key, label in [*posts, ("alt_text", "Alt text")]:
            element = f"t{number}-{key}"
            button = "Copy " + (label if label != "Alt text" else "alt text")
            texts += (f'<div class="text"><h3>{label}</h3><p id="{element}">{html.escape(row[key])}</p>'
                      f'<button type="button" data-copy="{element}" data-label="{button}">{button}</button></div>')
        cards.append(f'<section class="card" id="q{number}"><h2>{number}. {html.escape(row["id"])}</h2>'
                     f'<div class="images">{images}</div><div class="texts">{texts}</div></section>')
    title = html.escape(collection.collection.title)
    return f"""<!doctype html>
<html lang="{html.escape(collection.collection.language)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}: image pack</title>
<style>
body {{ margin: 0; padding: 20px; font: 15px/1.45 system-ui, sans-serif; background: #f4f6f8; color: #0f1419; }}
.card {{ background: #fff; border: 1px solid #cfd9de; border-radius: 14px; padding: 16px; margin: 0 0 20px; }}
.card h2 {{ margin: 0 0 10px; font-size: 17px; }}
.images {{ display: flex; gap: 10px; flex-wrap: wrap; align-items: flex-start; }}
figure {{ margin: 0; width: 180px; }} img {{ width: 100%; height: auto; border-radius: 8px; display: block; }}
figcaption {{ font-size: 12px; color: #536471; }}
.texts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(260px, 100%), 1fr)); gap: 12px;
  margin-top: 12px; }}
.text h3 {{ font-size: 13px; margin: 0; color: #536471; }}
.text p {{ white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 6px; }}
button {{ font: inherit; padding: 4px 10px; border-radius: 6px; border: 1px solid #1d6fe0; background: #1d6fe0;
  color: #fff; cursor: pointer; }}
{fonts_css}</style></head><body>
<header><h1>{title}: image pack</h1>
<p>{counted(len(rows), 'quote')}. {html.escape(collection.general_attribution())}.
Attach a card, add its alt text, paste a post. Every card at a glance: {_sheet_links(sheets)}.</p></header>
<main>{"".join(cards)}</main>
<script>{_COPY_SCRIPT}</script>
</body></html>
"""

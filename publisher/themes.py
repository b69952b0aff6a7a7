"""Card themes: ``assets/themes/<name>.toml``, validated at load, contrast included (see docs/themes.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError

from publisher.assets import Assets
from publisher.errors import ConfigError, Problem, display_path
from publisher.schema import CleanText, Invalid, Slug, StrictModel, problems_from, suggest
from publisher.tomlsource import TomlSource, read_toml

RGB = tuple[int, int, int]
# WCAG 2.x: text at least this many px on a 1080-wide card counts as large (3:1 instead of 4.5:1). Cards are
# usually seen at about half size in a timeline, so 48 px there is 24 px on screen: WCAG's 18 pt.
LARGE_TEXT_PX = 48


def _colour(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise Invalid(f'"{value}" is not a colour', 'write it as "#rrggbb", e.g. "#1b1f3b"')
    return value.lower()


Colour = Annotated[str, AfterValidator(_colour)]


def rgb(colour: str) -> RGB:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def relative_luminance(colour: RGB) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class ThemeInfo(StrictModel):
    name: Slug
    description: str = ""


class Colours(StrictModel):
    background: Colour | list[Colour] = Field(description="one colour, or two for a top-to-bottom gradient")
    text: Colour
    accent: Colour
    attribution: Colour
    footer: Colour
    brand: Colour


# Every script campaigners write in, each in its own Noto face (bold faces are taken for a bold main font).
DEFAULT_FALLBACK = (
    "NotoSans-Regular.ttf",  # Latin (Vietnamese, Polish, ...), Greek, Cyrillic
    "NotoSansArabic-Regular.ttf",  # Arabic, Urdu, Persian
    "NotoSansHebrew-Regular.ttf",
    *(f"NotoSans{script}-Regular.ttf" for script in (
        "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam",
        "Sinhala", "Thai", "Lao", "Khmer", "Myanmar", "Ethiopic", "Georgian", "Armenian")),
    "NotoSansCJKsc-Regular.otf",  # Chinese, Japanese, Korean: shaped in the collection's language
    "NotoSansSymbols-Regular.ttf",
    "NotoSansSymbols2-Regular.ttf",
    "NotoColorEmoji.ttf",
)


class Fonts(StrictModel):
    quote: str
    highlight: str | None = None
    brand: str
    attribution: str
    footer: str
    fallback: list[str] = Field(default_factory=lambda: list(DEFAULT_FALLBACK))



class Brand(StrictModel):
    text: CleanText = "{title}"
    logo: str | None = None
    tint_logo: bool = True
    position: Literal["top-left", "top-right", "bottom-left", "bottom-right", "none"] = "top-left"


class Layout(StrictModel):
    margin: int = Field(default=84, ge=24, le=240)
    min_quote_size: int = Field(default=36, ge=16, le=120)
    max_quote_size: int = Field(default=88, ge=24, le=200)
    line_height: float = Field(default=1.22, ge=1.0, le=2.0)
    align: Literal["left", "center"] = "left"
    quote_mark: Literal["hanging", "above", "none"] = "hanging"
    accent_rule: bool = True


class Footer(StrictModel):
    hashtags: bool = True
    text: CleanText = ""


class Theme(StrictModel):
    theme: ThemeInfo
    colours: Colours
    fonts: Fonts
    brand: Brand = Brand()
    layout: Layout = Layout()
    footer: Footer = Footer()

    @property
    def name(self) -> str:
        return self.theme.name

    @property
    def background_stops(self) -> list[RGB]:
        value = self.colours.background
        return [rgb(c) for c in (value if isinstance(value, list) else [value])]


def load_theme(path: Path, assets: Assets) -> Theme:
    return theme_from_source(read_toml(path), assets)


def theme_from_source(source: TomlSource, assets: Assets) -> Theme:
    try:
        theme = Theme.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, source, Theme)) from None
    problems = _file_problems(source, theme, assets)
    if isinstance(theme.colours.background, list) and len(theme.colours.background) != 2:
        problems.append(source.problem(("colours", "background"), "a gradient has exactly two colours",
                                       'write background = ["#top", "#bottom"] or one colour'))
    else:
        problems += contrast_problems(source, theme)
    if theme.layout.min_quote_size > theme.layout.max_quote_size:
        problems.append(source.problem(("layout", "min_quote_size"), "is larger than max_quote_size",
                                       "lower min_quote_size or raise max_quote_size"))
    if theme.theme.name != source.path.stem:
        problems.append(source.problem(("theme", "name"), f'"{theme.theme.name}" does not match the file name',
                                       f'write name = "{source.path.stem}" or rename the file'))
    if problems:
        raise ConfigError(problems)
    return theme


# The first bytes of the font files FreeType reads: TrueType, OpenType (CFF), Apple TrueType, collections.
FONT_SIGNATURES = (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf")
MAX_LOGO_PX = 4096


def _file_problems(source: TomlSource, theme: Theme, assets: Assets) -> list[Problem]:
    problems = []
    known = assets.names("fonts", ".ttf", ".otf", ".ttc")
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("fonts", key), value) for key, value in theme.fonts.model_dump().items()
        if isinstance(value, str)
    ] + [(("fonts", "fallback", i), value) for i, value in enumerate(theme.fonts.fallback)]
    for key_path, font in named:
        path = assets.find(f"fonts/{font}") if "/" not in font else None
        if path is None:
            problems.append(source.problem(key_path, f'no font "{font}" in assets/fonts/ or publisher\'s bundled fonts',
                                           suggest(font, known) or "put the file in assets/fonts/, or name one of "
                                           "publisher's fonts (publisher help themes says where they are listed)"))
        elif _first_bytes(path, 4) not in FONT_SIGNATURES:
            problems.append(source.problem(key_path, f'"{font}" is not a font file FreeType can read',
                                           "give a TrueType or OpenType font (.ttf, .otf, .ttc)"))
    if theme.brand.logo:
        logo = assets.find(theme.brand.logo)
        if logo is None:
            problems.append(source.problem(("brand", "logo"), f'no file "{theme.brand.logo}" in assets/',
                                           "give a PNG path relative to assets/, e.g. logos/mark.png"))
        else:
            problem = _logo_problem(logo)
            if problem:
                where = "" if logo.is_relative_to(assets.bundled) else f" ({display_path(logo)})"
                problems.append(source.problem(("brand", "logo"), f'"{theme.brand.logo}"{where} {problem[0]}',
                                               problem[1]))
    return problems


def _first_bytes(path: Path, count: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(count)
    except OSError:
        return b""


def _logo_problem(path: Path) -> tuple[str, str] | None:
    """Why the logo cannot be drawn (what is wrong, the fix), or None. Reads only the image's header."""
    from PIL import Image, UnidentifiedImageError

    too_big = ("is larger than a logo needs", f"scale it to at most {MAX_LOGO_PX} px on its longer side")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max(width, height) > MAX_LOGO_PX:
                return f"is {width}×{height} px, more than a logo needs", too_big[1]
            image.load()  # the whole file: one cut short fails here, not on the first card
    except Image.DecompressionBombError:
        return too_big
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        problem = "is cut short or damaged" if isinstance(exc, OSError) and "truncated" in str(exc) else \
            "is not an image publisher can read"
        return problem, "give a PNG (with transparency) or a JPEG"
    return None


def contrast_problems(source: TomlSource, theme: Theme) -> list[Problem]:
    """Every text layer against every background stop (a gradient is as good as its worst stop)."""
    problems = []
    quote_is_large = theme.layout.min_quote_size >= LARGE_TEXT_PX
    layers = {"text": quote_is_large, "accent": quote_is_large, "attribution": False, "footer": False,
              "brand": False}
    for layer, large in layers.items():
        colour = rgb(getattr(theme.colours, layer))
        worst = min(contrast_ratio(colour, stop) for stop in theme.background_stops)
        needed = 3.0 if large else 4.5
        if worst < needed:
            problems.append(source.problem(
                ("colours", layer), f"contrast {worst:.2f}:1 against the background is below WCAG's {needed}:1",
                "choose a colour further from the background" + ("" if large else ": text this size needs 4.5:1")))
    return problems


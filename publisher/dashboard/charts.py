"""Charts drawn on the server as SVG: a page shows them with no script, no CDN and no style sheet, and a screen
reader hears their title and description (the page puts a table of the same figures beside each one).

``line_chart`` is pure: series of (time, value) in, one ``<svg>`` element out. Every text in it is escaped; its
look is in presentation attributes, since the dashboard's Content-Security-Policy forbids inline styles. Lines
differ by dash and marker shape as well as colour, so they can be told apart in grey or by a colour-blind reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 44, 64  # room for the y labels, the legend above, the x labels below
MOST_X_LABELS = 6  # more readings than this: every k-th is labelled, so labels never overlap


@dataclass(frozen=True)
class LineStyle:
    colour: str  # each at least 3:1 against white (WCAG 1.4.11)
    dash: str  # "" for a solid line
    marker: str  # circle, square, triangle or diamond


STYLES = (LineStyle("#0b57c2", "", "circle"), LineStyle("#a50e26", "6 3", "square"),
          LineStyle("#0b6b32", "2 3", "triangle"), LineStyle("#7a4f00", "8 3 2 3", "diamond"))


def nice_top(largest: float) -> tuple[int, int]:
    """The y axis' top and step: a round step (1, 2 or 5 times a power of ten), at most 5 steps up to the top."""
    if largest <= 0:
        return 1, 1
    step = 1
    for power in range(0, 19):
        for unit in (1, 2, 5):
            step = unit * 10 ** power
            if largest / step <= 5:
                return step * math.ceil(largest / step), step
    return step * math.ceil(largest / step), step


def _marker(style: LineStyle, x: float, y: float) -> str:
    """A marker's outline as a path, so every kind of marker is one element (``.point``)."""
    r = 4.5
    if style.marker == "square":
        d = f"M{x - r:.1f} {y - r:.1f}h{2 * r:.1f}v{2 * r:.1f}h{-2 * r:.1f}z"
    elif style.marker == "triangle":
        d = f"M{x:.1f} {y - r - 1:.1f}L{x + r + 1:.1f} {y + r:.1f}L{x - r - 1:.1f} {y + r:.1f}z"
    elif style.marker == "diamond":
        d = f"M{x:.1f} {y - r - 1:.1f}L{x + r + 1:.1f} {y:.1f}L{x:.1f} {y + r + 1:.1f}L{x - r - 1:.1f} {y:.1f}z"
    else:
        d = f"M{x - r:.1f} {y:.1f}a{r} {r} 0 1 0 {2 * r:.1f} 0a{r} {r} 0 1 0 {-2 * r:.1f} 0z"
    return d


def time_label(moment: datetime) -> str:
    """A reading's time on the x axis: day, month and time, in the zone it is given in."""
    return f"{moment.day} {moment:%b %H:%M}"


def line_chart(series: Mapping[str, Sequence[tuple[datetime, int | None]]], title: str, description: str,
               id_prefix: str = "chart", y_label: str = "Count", x_label: str = "Reading (date and time)") -> str:
    """An SVG line chart of ``series`` (a name and its (time, value) points each, value None where there is no
    figure), one point per reading, evenly spaced in time order and labelled with its time.

    The SVG is ``role="img"`` named by its ``<title>`` and described by its ``<desc>``; ``id_prefix`` keeps
    their ids unique on a page with several charts."""
    times = sorted({moment for points in series.values() for moment, _ in points})
    values = [value for points in series.values() for _, value in points if value is not None]
    top, step = nice_top(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = {moment: index for index, moment in enumerate(times)}

    def x_of(moment: datetime) -> float:
        return LEFT + (plot_w / 2 if len(times) == 1 else plot_w * slot[moment] / (len(times) - 1))

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    ident = escape(id_prefix, quote=True)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-labelledby="{ident}-title {ident}-desc" class="chart" '
           f'font-family="system-ui, sans-serif" font-size="13">',
           f'<title id="{ident}-title">{escape(title)}</title>',
           f'<desc id="{ident}-desc">{escape(description)}</desc>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    # the y axis: grid lines and their values
    for tick in range(0, top + 1, step):
        y = y_of(tick)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#c4cdd4" '
                   f'stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#0f1419">{tick}</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="#0f1419" '
               f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>')
    # the x axis: one tick a reading, a label on at most MOST_X_LABELS of them
    bottom = TOP + plot_h
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#4a5560" '
               f'stroke-width="1.5"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#4a5560" stroke-width="1.5"/>')
    every = max(1, math.ceil(len(times) / MOST_X_LABELS))
    for index, moment in enumerate(times):
        x = x_of(moment)
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#4a5560"/>')
        if index % every == 0:
            out.append(f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="middle" fill="#0f1419">'
                       f'{escape(time_label(moment))}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" fill="#0f1419">'
               f'{escape(x_label)}</text>')
    if not times:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                   f'fill="#4a5560">No readings yet</text>')
    # the legend, then each line with a marker at each of its points
    legend_x = LEFT
    for (name, _), style in zip(series.items(), STYLES * (len(series) // len(STYLES) + 1), strict=False):
        out.append(f'<line x1="{legend_x}" y1="18" x2="{legend_x + 28}" y2="18" stroke="{style.colour}" '
                   f'stroke-width="2.5"' + (f' stroke-dasharray="{style.dash}"' if style.dash else "") + "/>")
        out.append(f'<path d="{_marker(style, legend_x + 14, 18)}" fill="{style.colour}"/>')
        out.append(f'<text x="{legend_x + 34}" y="22" fill="#0f1419">{escape(name)}</text>')
        legend_x += 48 + 7 * len(name)
    for (name, points), style in zip(series.items(), STYLES * (len(series) // len(STYLES) + 1), strict=False):
        given = sorted(((moment, value) for moment, value in points if value is not None), key=lambda p: p[0])
        out.append(f'<g class="series" data-name="{escape(name, quote=True)}">')
        if len(given) > 1:
            path = " ".join(f"{'M' if i == 0 else 'L'}{x_of(m):.1f} {y_of(v):.1f}" for i, (m, v) in enumerate(given))
            out.append(f'<path d="{path}" fill="none" stroke="{style.colour}" stroke-width="2.5" '
                       f'stroke-linejoin="round"' + (f' stroke-dasharray="{style.dash}"' if style.dash else "") + "/>")
        for moment, value in given:
            out.append(f'<path class="point" d="{_marker(style, x_of(moment), y_of(value))}" fill="{style.colour}" '
                       f'stroke="#ffffff" stroke-width="1"><title>{escape(name)}: {value} at '
                       f'{escape(time_label(moment))}</title></path>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)

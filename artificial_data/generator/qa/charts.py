"""Small SVG bar charts for the QA report (no plotting library needed).

Horizontal grouped bars: one row per label, one bar per series (e.g. metadata vs artificial),
so long HES codes and field names stay readable. The same SVG goes inline into the HTML report
and, as a ``data:image/svg+xml;base64`` image, into the Markdown report that the Dagster UI
shows: the UI's Markdown renderer drops raw HTML (an inline ``<svg>`` would show as text) but
lets images with ``data:`` sources through its sanitiser. Every attribute a series shares sits
on one group, so a field's chart stays around 2 kB.
"""

from __future__ import annotations

import base64
from html import escape

COLOURS = ("#005eb8", "#ffb81c", "#009639", "#da291c")  # NHS blue, warm yellow, green, red
ROW_HEIGHT = 8
LABEL_WIDTH = 150
BAR_WIDTH = 300
LABEL_CHARS = 24
_TOP = 40  # title and legend


def grouped_bars(
    title: str, labels: list[str], series: dict[str, list[float]], percent: bool = True
) -> str:
    """An SVG of horizontal grouped bars; values are shares (0..1) when ``percent``."""
    names = list(series)
    top = max((v for values in series.values() for v in values), default=0.0) or 1.0
    group = ROW_HEIGHT * len(names) + 6
    height = _TOP + group * len(labels)
    width = LABEL_WIDTH + BAR_WIDTH + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="Arial,sans-serif" '
        f'font-size="10"><rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text y="12" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    for i, name in enumerate(names):
        x = LABEL_WIDTH + i * 110
        parts.append(
            f'<rect x="{x}" y="20" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="29">{escape(name)}</text>'
        )
    parts.append(f'<g text-anchor="end" transform="translate({LABEL_WIDTH - 4},{_TOP})">')
    parts += [
        f'<text y="{row * group + group // 2 + 2}">{escape(label[:LABEL_CHARS])}</text>'
        for row, label in enumerate(labels)
    ]
    parts.append("</g>")
    for i, name in enumerate(names):
        bars, texts = [], []
        for row, value in enumerate(series[name]):
            y = _TOP + row * group + i * ROW_HEIGHT
            w = round(BAR_WIDTH * value / top, 1)
            bars.append(f"M0 {y}h{w:g}v{ROW_HEIGHT - 1}H0z")
            text = f"{100 * value:.1f}%" if percent else f"{value:g}"
            texts.append(f'<text x="{w + 3:g}" y="{y + ROW_HEIGHT - 1}">{text}</text>')
        parts.append(
            f'<g transform="translate({LABEL_WIDTH},0)"><path fill="{COLOURS[i % len(COLOURS)]}" '
            f'd="{"".join(bars)}"><title>{escape(name)}</title></path>'
            f'<g font-size="7">{"".join(texts)}</g></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_data_uri(svg: str) -> str:
    """The SVG as a ``data:`` URI (base64: no character the Markdown link syntax would need
    escaped)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def markdown_image(alt: str, svg: str) -> str:
    """A Markdown image of the SVG; ``alt`` (brackets removed) is what a text reader sees."""
    label = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{label}]({svg_data_uri(svg)})"

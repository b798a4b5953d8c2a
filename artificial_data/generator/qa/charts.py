"""Small inline SVG bar charts for the QA report (no plotting library needed).

Horizontal grouped bars: one row per label, one bar per series (e.g. metadata vs artificial),
so long HES codes and field names stay readable.
"""

from __future__ import annotations

from html import escape

COLOURS = ("#005eb8", "#ffb81c", "#009639", "#da291c")  # NHS blue, warm yellow, green, red
ROW_HEIGHT = 8
LABEL_WIDTH = 150
BAR_WIDTH = 300


def grouped_bars(
    title: str, labels: list[str], series: dict[str, list[float]], percent: bool = True
) -> str:
    """An SVG of horizontal grouped bars; values are shares (0..1) when ``percent``."""
    names = list(series)
    top = max((v for values in series.values() for v in values), default=0.0) or 1.0
    group = ROW_HEIGHT * len(names) + 6
    legend_height = 18
    height = 22 + legend_height + group * len(labels)
    width = LABEL_WIDTH + BAR_WIDTH + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="Arial, sans-serif" font-size="10">',
        f'<text x="0" y="12" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    for i, name in enumerate(names):
        x = LABEL_WIDTH + i * 110
        parts.append(
            f'<rect x="{x}" y="20" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="29">{escape(name)}</text>'
        )
    y0 = 22 + legend_height
    for row, label in enumerate(labels):
        y = y0 + row * group
        parts.append(
            f'<text x="{LABEL_WIDTH - 4}" y="{y + group / 2 + 2:.1f}" text-anchor="end">'
            f"{escape(label[:24])}</text>"
        )
        for i, name in enumerate(names):
            value = series[name][row]
            w = BAR_WIDTH * value / top
            by = y + i * ROW_HEIGHT
            text = f"{100 * value:.1f}%" if percent else f"{value:g}"
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{by}" width="{w:.1f}" height="{ROW_HEIGHT - 1}" '
                f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(name)}: {text}</title></rect>'
                f'<text x="{LABEL_WIDTH + w + 3:.1f}" y="{by + ROW_HEIGHT - 1}" font-size="7">'
                f"{text}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)

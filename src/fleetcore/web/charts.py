"""Small server-rendered SVG charts: no JavaScript, readable without colour, printable.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` for screen readers; the
pages put the same numbers in a table beside it. Every label is XML-escaped here, so the
templates may insert the markup as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

PALETTE = ("#0f766e", "#7c3aed", "#d97706", "#2563eb", "#db2777", "#65a30d", "#475569")
"""Series colours (distinguishable, and each series also has a legend entry)."""
STATUS_COLOURS = {"pass": "#15803d", "warning": "#d97706", "fail": "#b91c1c",
                  "not_applicable": "#94a3b8"}


@dataclass(frozen=True, slots=True)
class Series:
    """A named series of values, one per category."""

    name: str
    values: Sequence[Decimal | int | float]


def _num(value: Decimal | int | float) -> float:
    return float(value)


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def _legend(series: Sequence[str], x: float, y: float, colours: Sequence[str]) -> list[str]:
    parts = []
    for i, name in enumerate(series):
        cx = x + i * 120
        parts.append(f'<rect x="{cx:.1f}" y="{y - 9:.1f}" width="10" height="10" '
                     f'fill="{colours[i % len(colours)]}"/>')
        parts.append(f'<text x="{cx + 14:.1f}" y="{y:.1f}" class="legend">{escape(name)}</text>')
    return parts


def stacked_bars(title: str, categories: Sequence[str], series: Sequence[Series], *,
                 unit: str = "", width: int = 640, height: int = 260) -> str:
    """Vertical bars per category, stacked by series (e.g. revenue per week by platform)."""
    left, right, top, bottom = 48, 12, 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(_num(s.values[i]) for s in series) for i in range(len(categories))]
    peak = _nice_max(max(totals, default=0.0))
    parts = [_open(title, width, height,
                   f"{title}: " + "; ".join(f"{c} {_short(t)}{unit}"
                                            for c, t in zip(categories, totals, strict=True)))]
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                     f"{escape(_short(value))}</text>")
    slot = plot_w / max(len(categories), 1)
    bar = slot * 0.62
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for k, s in enumerate(series):
            h = plot_h * _num(s.values[i]) / peak
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(s.name)}, '
                f"{escape(category)}: {escape(_short(_num(s.values[i])))}{escape(unit)}"
                "</title></rect>")
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" class="axis" '
                     f'text-anchor="middle">{escape(category)}</text>')
    parts += _legend([s.name for s in series], left, height - 12, PALETTE)
    parts.append("</svg>")
    return "".join(parts)


def line(title: str, categories: Sequence[str], values: Sequence[float], *,
         maximum: float = 100.0, unit: str = "%", width: int = 640, height: int = 220,
         label_every: int = 7) -> str:
    """A line over categories on a fixed scale (e.g. utilisation per day, 0 to 100 %)."""
    left, right, top, bottom = 40, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    average = sum(values) / len(values) if values else 0.0
    parts = [_open(title, width, height,
                   f"{title}: average {average:.0f}{unit} over {len(values)} points")]
    for i in range(5):
        value = maximum * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                     f"{value:.0f}{escape(unit)}</text>")
    step = plot_w / max(len(values) - 1, 1)
    points = [(left + step * i, top + plot_h - plot_h * min(v, maximum) / maximum)
              for i, v in enumerate(values)]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        area = f"{left:.1f},{top + plot_h:.1f} {path} {points[-1][0]:.1f},{top + plot_h:.1f}"
        parts.append(f'<polygon points="{area}" fill="{PALETTE[0]}" fill-opacity="0.12"/>')
        parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" '
                     'stroke-width="2"/>')
    for i, (category, (x, y)) in enumerate(zip(categories, points, strict=True)):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{PALETTE[0]}">'
                     f"<title>{escape(category)}: {values[i]:.0f}{escape(unit)}</title></circle>")
        if i % label_every == 0 or i == len(values) - 1:
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="axis" '
                         f'text-anchor="middle">{escape(category)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def status_bars(title: str, rows: Sequence[tuple[str, dict[str, int]]], *,
                width: int = 640) -> str:
    """One horizontal bar per row split by status (e.g. compliance per rule: pass/warn/fail)."""
    order = ("fail", "warning", "pass", "not_applicable")
    row_h, label_w, top = 24, 230, 8
    height = top + row_h * len(rows) + 34
    plot_w = width - label_w - 56
    fails = sum(counts.get("fail", 0) for _, counts in rows)
    parts = [_open(title, width, height, f"{title}: {fails} failing checks in {len(rows)} rules")]
    for i, (name, counts) in enumerate(rows):
        y = top + row_h * i
        total = sum(counts.values()) or 1
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" class="axis" text-anchor="end">'
                     f"{escape(name)}</text>")
        x = float(label_w)
        for status in order:
            n = counts.get(status, 0)
            if not n:
                continue
            w = plot_w * n / total
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{STATUS_COLOURS[status]}"><title>{escape(name)}: {n} '
                         f"{escape(status.replace('_', ' '))}</title></rect>")
            x += w
        if counts.get("fail"):
            parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 15}" class="axis">'
                         f"{counts['fail']} fail</text>")
    labels = [s.replace("_", " ") for s in order]
    parts += _legend(labels, 12, height - 10, [STATUS_COLOURS[s] for s in order])
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str, width: int, height: int, description: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'class="chart" role="img" preserveAspectRatio="xMidYMid meet">'
            f"<title>{escape(title)}</title><desc>{escape(description)}</desc>")

"""The server-rendered SVG charts: well-formed, escaped, and drawn to scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from fleetcore.web import charts

SVG = "{http://www.w3.org/2000/svg}"


def test_stacked_bars_scale_each_series_and_escape_labels() -> None:
    markup = charts.stacked_bars("Fares <by> platform", ["W1", "W2"], [
        charts.Series("Uber & co", [Decimal("300"), Decimal("0")]),
        charts.Series("<script>", [Decimal("100"), Decimal("50")]),
    ])
    root = ET.fromstring(markup)  # well-formed XML: every label was escaped
    assert root.find(f"{SVG}title").text == "Fares <by> platform"  # type: ignore[union-attr]
    assert "<script>" not in markup
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    heights = {r.find(f"{SVG}title").text: float(r.get("height", 0))  # type: ignore[union-attr]
               for r in bars}
    # 300 of an axis that ends at 500 (the round maximum above 400) on a 188 px plot.
    assert abs(heights["Uber & co, W1: 300"] - 188 * 300 / 500) < 0.11
    assert abs(heights["<script>, W2: 50"] - 188 * 50 / 500) < 0.11
    assert "Uber & co, W2: 0" not in heights  # an empty segment is not drawn


def test_line_and_status_bars_describe_their_numbers() -> None:
    line = charts.line("Utilisation", ["d1", "d2", "d3"], [50.0, 100.0, 0.0])
    ET.fromstring(line)
    assert "average 50%" in line
    points = re.search(r'<polyline points="([^"]+)"', line).group(1).split()  # type: ignore[union-attr]
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] < ys[0] < ys[2]  # 100 % highest on the screen, 0 % lowest
    bars = charts.status_bars("Compliance", [("insurance", {"pass": 3, "fail": 1}),
                                             ("age", {"not_applicable": 4})])
    ET.fromstring(bars)
    assert "1 failing checks in 2 rules" in bars
    assert "insurance: 1 fail" in bars
    assert "age: 4 not applicable" in bars

"""Dashboard SVG charts are well-formed XML and escape every text they draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from carepilot.domain.insight import Factor
from carepilot.web.charts import Band, Span, factor_bars, interval_strip, line_chart, medication_bars

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_line_chart_draws_one_point_per_value_and_the_band():
    points = [(T0 + timedelta(days=90 * i), v) for i, v in enumerate([7.2, 8.1, 9.6])]
    root = parse(line_chart(points, title="HbA1c", unit="%", bands=[Band(7.0, "goal <7")]))
    ns = "{http://www.w3.org/2000/svg}"
    circles = root.findall(f"{ns}circle") or root.findall("circle")
    assert len(circles) == 3
    assert "goal <7" in ET.tostring(root, encoding="unicode").replace("&lt;", "<")


def test_empty_chart_says_so():
    assert "No eGFR recorded" in line_chart([], title="eGFR")


def test_text_is_escaped():
    svg = medication_bars([Span("<script>x</script>", T0, None, True)], start=T0, end=T0 + timedelta(days=30))
    parse(svg)
    assert "<script>" not in svg


def test_factor_bars_are_signed():
    svg = factor_bars([Factor("age", 0.4, "age 70"), Factor("eGFR", -0.2, "eGFR 80")])
    parse(svg)
    assert svg.count('class="factor up"') == 1 and svg.count('class="factor down"') == 1


def test_interval_strip_is_valid():
    parse(interval_strip(0.1, -0.2, 0.3, lo=-0.5, hi=0.5))

"""Inline SVG charts of the reports: well-formed, faithful to their data, safe with any label."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from modelcycle.reports import heatmap, line_chart, scatter

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_line_chart_draws_one_polyline_per_series_inside_the_plot_area() -> None:
    svg = line_chart(
        [("a", [0.0, 0.5, 1.0], [0.0, 0.8, 1.0]), ("b", [0.0, 1.0], [0.0, 1.0])],
        x_label="fpr",
        y_label="tpr",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
    )
    root = _parse(svg)
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 2
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    assert len(first) == 3
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    assert all(0 <= x <= width and 0 <= y <= height for x, y in first)
    assert first[0][1] > first[-1][1]  # y grows upwards: 0 at the bottom, 1 at the top
    assert root.findall(f"{NS}line"), "the diagonal reference line is drawn"
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "fpr" in texts and "tpr" in texts and "a" in texts and "b" in texts


def test_scatter_draws_every_finite_point_and_the_zero_line() -> None:
    svg = scatter([1.0, 2.0, 3.0, float("nan")], [-1.0, 0.5, 2.0, 1.0])
    root = _parse(svg)
    assert len(root.findall(f"{NS}circle")) == 3
    assert len(root.findall(f"{NS}line")) == 1


def test_heatmap_writes_each_count_and_shades_by_row_share() -> None:
    svg = heatmap(["cat", "dog"], [[8, 2], [1, 9]])
    root = _parse(svg)
    cells = root.findall(f"{NS}rect")
    assert len(cells) == 4
    opacities = [float(c.get("fill-opacity", 0)) for c in cells]
    assert opacities[0] > opacities[1] and opacities[3] > opacities[2]
    texts = [t.text for t in root.iter(f"{NS}text")]
    for count in ("8", "2", "1", "9"):
        assert count in texts
    titles = [t.text or "" for t in root.iter(f"{NS}title")]
    assert "true cat, predicted dog: 2 (20.0% of the row)" in titles


def test_labels_are_escaped_and_empty_data_draws_nothing() -> None:
    svg = line_chart([("<script>", [0.0, 1.0], [1.0, 2.0])], x_label="a&b")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    _parse(svg)
    assert (
        line_chart([]) == scatter([], []) == heatmap([], []) == '<svg width="0" height="0"></svg>'
    )

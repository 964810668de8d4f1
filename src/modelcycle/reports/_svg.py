"""Small inline SVG charts: histograms and horizontal bars, a few hundred bytes each."""

from __future__ import annotations

import math
from collections.abc import Sequence

from modelcycle.reports._html import escape

__all__ = ["bar_chart", "fmt_number", "histogram"]

_BLUE, _ORANGE = "#4f7cd6", "#e8873a"


def fmt_number(value: float) -> str:
    """A number short enough for a chart label: 4 significant digits, thousands or e-notation."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e7 or magnitude < 1e-3:
        return f"{value:.2e}"
    if magnitude >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


_fmt = fmt_number


def histogram(
    edges: Sequence[float],
    counts: Sequence[float],
    other: Sequence[float] | None = None,
    width: int = 300,
    height: int = 110,
    labels: tuple[str, str] = ("reference", "current"),
) -> str:
    """Bars of ``counts`` over bins ``edges`` (len(counts) + 1 edges); ``other`` overlays a
    second distribution on the same bins (both drawn as shares so sizes may differ)."""
    if not counts or len(edges) != len(counts) + 1:
        return '<svg width="0" height="0"></svg>'
    series = [_shares(counts)] + ([_shares(other)] if other is not None else [])
    top = max(max(s) for s in series) or 1.0
    plot_h = height - 18
    bar_w = width / len(counts)
    shapes = []
    for index, (shares, colour) in enumerate(zip(series, (_BLUE, _ORANGE), strict=False)):
        opacity = "0.85" if index == 0 else "0.55"
        for i, share in enumerate(shares):
            h = plot_h * share / top
            shapes.append(
                f'<rect x="{i * bar_w:.1f}" y="{plot_h - h:.1f}" width="{max(bar_w - 1, 0.5):.1f}"'
                f' height="{h:.1f}" fill="{colour}" fill-opacity="{opacity}">'
                f"<title>[{_fmt(edges[i])}, {_fmt(edges[i + 1])}): {share:.1%}</title></rect>"
            )
    axis = (
        f'<text x="0" y="{height - 4}">{escape(_fmt(edges[0]))}</text>'
        f'<text x="{width}" y="{height - 4}" text-anchor="end">{escape(_fmt(edges[-1]))}</text>'
    )
    legend = ""
    if other is not None:
        legend = (
            f'<text x="{width}" y="10" text-anchor="end" fill="{_BLUE}">{escape(labels[0])}'
            f'</text><text x="{width}" y="22" text-anchor="end" fill="{_ORANGE}">'
            f"{escape(labels[1])}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(shapes)}{axis}{legend}</svg>'
    )


def bar_chart(
    labels: Sequence[str], values: Sequence[float], width: int = 300, bar_height: int = 16
) -> str:
    """Horizontal bars, one per label, scaled to the largest value, value written beside."""
    if not labels:
        return '<svg width="0" height="0"></svg>'
    top = max(values) or 1.0
    label_w = min(120, 7 * max(len(str(label)) for label in labels) + 6)
    bar_space = width - label_w - 50
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = i * (bar_height + 4)
        w = max(bar_space * value / top, 1)
        rows.append(
            f'<text x="{label_w - 4}" y="{y + bar_height - 4}" text-anchor="end">'
            f"{escape(str(label)[:18])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{_BLUE}">'
            f"<title>{escape(label)}: {escape(_fmt(value))}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height - 4}">{escape(_fmt(value))}</text>'
        )
    height = len(labels) * (bar_height + 4)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(rows)}</svg>'
    )


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts)) or 1.0
    return [c / total for c in counts]

"""Inline SVG charts with axes: lines (ROC, PR, calibration, partial dependence), scatter
(residuals) and a heatmap (confusion matrix). Each is a few kilobytes at most: curves arrive
already downsampled from the snapshot, and nothing here recomputes a statistic."""

from __future__ import annotations

import math
from collections.abc import Sequence

from modelcycle.reports._html import escape
from modelcycle.reports._svg import fmt_number

__all__ = ["heatmap", "line_chart", "scatter"]

_COLOURS = ("#4f7cd6", "#e8873a", "#3aa676", "#c44e8a", "#8c6bd6", "#b8a33a", "#5b6575")
_LEFT, _BOTTOM, _TOP, _RIGHT = 44, 30, 8, 10
_EMPTY = '<svg width="0" height="0"></svg>'


def _span(values: Sequence[float], fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed is not None:
        return fixed
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return low, high


class _Frame:
    """A plot area with linear axes from data coordinates to SVG pixels."""

    def __init__(
        self,
        x: tuple[float, float],
        y: tuple[float, float],
        width: int,
        height: int,
        labels: tuple[str, str],
    ) -> None:
        self.x, self.y, self.width, self.height, self.labels = x, y, width, height, labels
        self.plot_w = width - _LEFT - _RIGHT
        self.plot_h = height - _TOP - _BOTTOM

    def px(self, value: float) -> float:
        low, high = self.x
        return _LEFT + self.plot_w * (value - low) / (high - low)

    def py(self, value: float) -> float:
        low, high = self.y
        return _TOP + self.plot_h * (1 - (value - low) / (high - low))

    def axes(self) -> str:
        x0, x1, y0, y1 = (
            self.px(self.x[0]),
            self.px(self.x[1]),
            self.py(self.y[0]),
            self.py(self.y[1]),
        )
        bottom, middle = self.height - _BOTTOM, _TOP + self.plot_h / 2
        return (
            f'<rect x="{_LEFT}" y="{_TOP}" width="{self.plot_w}" height="{self.plot_h}" '
            'fill="none" stroke="#d5d9e0"/>'
            f'<text x="{x0:.1f}" y="{bottom + 13}">{escape(fmt_number(self.x[0]))}</text>'
            f'<text x="{x1:.1f}" y="{bottom + 13}" text-anchor="end">'
            f"{escape(fmt_number(self.x[1]))}</text>"
            f'<text x="{_LEFT - 4}" y="{y0:.1f}" text-anchor="end">'
            f"{escape(fmt_number(self.y[0]))}</text>"
            f'<text x="{_LEFT - 4}" y="{y1 + 9:.1f}" text-anchor="end">'
            f"{escape(fmt_number(self.y[1]))}</text>"
            f'<text x="{_LEFT + self.plot_w / 2:.1f}" y="{self.height - 3}" text-anchor="middle">'
            f"{escape(self.labels[0])}</text>"
            f'<text x="11" y="{middle:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 11 {middle:.1f})">{escape(self.labels[1])}</text>'
        )

    def svg(self, body: str) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img">'
            f"{self.axes()}{body}</svg>"
        )


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    x_label: str = "",
    y_label: str = "",
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    markers: bool = False,
    width: int = 320,
    height: int = 220,
) -> str:
    """Lines ``(name, xs, ys)`` on shared axes, with a legend; ``diagonal`` draws y = x
    (the chance line of a ROC curve, the perfect calibration line); ``markers`` dots each
    point (for binned summaries such as calibration, where the points are the data)."""
    drawn = [(name, xs, ys) for name, xs, ys in series if len(xs) and len(xs) == len(ys)]
    if not drawn:
        return _EMPTY
    frame = _Frame(
        _span([v for _, xs, _ in drawn for v in xs], x_range),
        _span([v for _, _, ys in drawn for v in ys], y_range),
        width,
        height,
        (x_label, y_label),
    )
    parts = []
    if diagonal:
        low = max(frame.x[0], frame.y[0])
        high = min(frame.x[1], frame.y[1])
        parts.append(
            f'<line x1="{frame.px(low):.1f}" y1="{frame.py(low):.1f}" x2="{frame.px(high):.1f}" '
            f'y2="{frame.py(high):.1f}" stroke="#b0b6c0" stroke-dasharray="4 3"/>'
        )
    for index, (name, xs, ys) in enumerate(drawn):
        colour = _COLOURS[index % len(_COLOURS)]
        points = " ".join(
            f"{frame.px(x):.1f},{frame.py(y):.1f}"
            for x, y in zip(xs, ys, strict=True)
            if math.isfinite(x) and math.isfinite(y)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if markers:
            parts.extend(
                f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(fmt_number(x))}, {escape(fmt_number(y))}</title></circle>"
                for x, y in zip(xs, ys, strict=True)
                if math.isfinite(x) and math.isfinite(y)
            )
        if len(drawn) > 1:
            parts.append(
                f'<text x="{_LEFT + 6}" y="{_TOP + 12 + 12 * index}" fill="{colour}">'
                f"{escape(str(name)[:28])}</text>"
            )
    return frame.svg("".join(parts))


def scatter(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    x_label: str = "",
    y_label: str = "",
    zero_line: bool = True,
    width: int = 320,
    height: int = 220,
) -> str:
    """Points ``(x, y)``; ``zero_line`` draws y = 0 (the residual plot's reference)."""
    if not len(xs) or len(xs) != len(ys):
        return _EMPTY
    frame = _Frame(_span(xs, None), _span(ys, None), width, height, (x_label, y_label))
    parts = []
    if zero_line and frame.y[0] <= 0 <= frame.y[1]:
        y0 = frame.py(0.0)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y0:.1f}" x2="{_LEFT + frame.plot_w}" y2="{y0:.1f}" '
            'stroke="#b0b6c0" stroke-dasharray="4 3"/>'
        )
    parts.extend(
        f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2" fill="{_COLOURS[0]}" '
        'fill-opacity="0.55"/>'
        for x, y in zip(xs, ys, strict=True)
        if math.isfinite(x) and math.isfinite(y)
    )
    return frame.svg("".join(parts))


def heatmap(
    labels: Sequence[str],
    matrix: Sequence[Sequence[float]],
    *,
    x_label: str = "predicted",
    y_label: str = "true",
    cell: int = 34,
) -> str:
    """A square matrix of counts shaded by each row's share (a confusion matrix reads per
    true class), the count written in each cell; labels on both axes."""
    size = len(labels)
    if size == 0 or len(matrix) != size:
        return _EMPTY
    label_w = min(110, 7 * max(len(str(label)) for label in labels) + 8)
    shown = min(size, 20)
    width, height = label_w + shown * cell + 4, 30 + shown * cell + 16
    parts = [
        f'<text x="{label_w + shown * cell / 2:.0f}" y="11" text-anchor="middle">'
        f"{escape(x_label)} →</text>",
        f'<text x="2" y="{height - 3}">↓ {escape(y_label)}</text>',
    ]
    for j in range(shown):
        parts.append(
            f'<text x="{label_w + j * cell + cell / 2:.0f}" y="25" text-anchor="middle">'
            f"{escape(str(labels[j])[:5])}</text>"
        )
    for i in range(shown):
        row = matrix[i]
        total = float(sum(row)) or 1.0
        y = 30 + i * cell
        parts.append(
            f'<text x="{label_w - 4}" y="{y + cell / 2 + 4:.0f}" text-anchor="end">'
            f"{escape(str(labels[i])[:14])}</text>"
        )
        for j in range(shown):
            share = row[j] / total
            ink = "#ffffff" if share > 0.55 else "#1d2430"
            parts.append(
                f'<rect x="{label_w + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="#4f7cd6" fill-opacity="{0.08 + 0.92 * share:.2f}">'
                f"<title>true {escape(labels[i])}, predicted {escape(labels[j])}: "
                f"{escape(fmt_number(row[j]))} ({share:.1%} of the row)</title></rect>"
                f'<text x="{label_w + j * cell + cell / 2:.0f}" y="{y + cell / 2 + 4:.0f}" '
                f'text-anchor="middle" style="fill:{ink}">{escape(fmt_number(row[j]))}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )

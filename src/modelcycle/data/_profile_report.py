"""The HTML view of a dataset profile: an overview table, then one card per column.

It renders a stored :class:`~modelcycle.data._profile.DatasetProfile` and never looks at the
data again, so a model's reference profile can be shown years later. Charts are the report
kit's inline SVG (a histogram for numbers and text lengths, bars for top categories), which
keeps a 30-column report to a few hundred KB at most and lets it open offline.
"""

from __future__ import annotations

from modelcycle.data._profile import ColumnProfile, DatasetProfile, NumericSummary
from modelcycle.reports import Page, badge, bar_chart, escape, histogram, table

__all__ = ["profile_report"]

_BARS = 10


def profile_report(profile: DatasetProfile, title: str = "Data profile") -> Page:
    """The report page of ``profile``; ``page.write(path)`` saves it as one HTML file.

    The verdict warns about columns that are empty or hold a single value (they carry no
    information for a model); missing values are shown per column.
    """
    useless = [c.name for c in profile.columns if c.distinct <= 1]
    missing = [c for c in profile.columns if c.nulls]
    verdict = f"{profile.rows:,} rows, {len(profile.columns)} columns"
    verdict += f"; {len(missing)} with missing values" if missing else "; no missing values"
    if useless:
        verdict += f"; empty or constant: {', '.join(useless)}"
    subtitle = f"Arrow memory {_size(profile.memory_bytes)}"
    page = Page(title, verdict, level="warn" if useless else "ok", subtitle=subtitle)
    page.add("Overview", _overview(profile))
    cards = "".join(_card(column) for column in profile.columns)
    page.add("Columns", f'<div class="grid">{cards}</div>')
    return page


def _overview(profile: DatasetProfile) -> str:
    rows = [
        [
            column.name,
            column.kind.value,
            _missing(column),
            _distinct(column),
            *_range(column),
        ]
        for column in profile.columns
    ]
    header = ["column", "kind", "missing", "distinct", "min", "mean", "max / top"]
    return table(header, rows)


def _card(column: ColumnProfile) -> str:
    stats: list[tuple[str, str]] = [
        ("count", f"{column.count:,}"),
        ("missing", _missing(column)),
        ("distinct", _distinct(column)),
    ]
    chart = ""
    summary = column.numeric or column.lengths
    if summary is not None:
        prefix = "length " if column.lengths is not None else ""
        stats += [(prefix + name, value) for name, value in _numeric_stats(summary)]
        chart = histogram(summary.histogram.edges, summary.histogram.counts)
    elif column.categories is not None:
        shown = column.categories.top[:_BARS]
        rest = column.count - sum(n for _, n in shown)
        pairs = [*shown, *([("(other)", rest)] if rest > 0 else [])]
        total = max(column.count, 1)
        shares = [round(100 * n / total, 1) for _, n in pairs]
        chart = '<div class="meta">% of values</div>' + bar_chart([p[0] for p in pairs], shares)
        if not column.categories.exact:
            stats.append(("counts", "frequent-items estimates"))
    elif column.time_range is not None:
        stats += [("first", column.time_range[0]), ("last", column.time_range[1])]
    heading = f"<h3>{escape(column.name)} {badge(column.kind.value)}</h3>"
    return f'<div class="card">{heading}{table(["statistic", "value"], stats)}{chart}</div>'


def _numeric_stats(summary: NumericSummary) -> list[tuple[str, str]]:
    q = summary.quantiles
    stats = [
        ("mean", _fmt(summary.mean)),
        ("std", _fmt(summary.std)),
        ("min", _fmt(summary.min)),
        ("p25 / p50 / p75", " / ".join(_fmt(q[p]) for p in ("p25", "p50", "p75"))),
        ("max", _fmt(summary.max)),
        ("zeros", f"{summary.zeros:,}"),
    ]
    if summary.infinite:
        stats.append(("infinite", f"{summary.infinite:,}"))
    return stats


def _range(column: ColumnProfile) -> list[str]:
    """min, mean and max (or the top category, or the time range) for the overview."""
    summary = column.numeric or column.lengths
    if summary is not None:
        values = [_fmt(summary.min), _fmt(summary.mean), _fmt(summary.max)]
        return values if column.numeric else [f"length {value}" for value in values]
    if column.categories is not None and column.categories.top:
        label, count = column.categories.top[0]
        return ["", "", f"{label} ({count / max(column.count, 1):.0%})"]
    if column.time_range is not None:
        return [column.time_range[0], "", column.time_range[1]]
    return ["", "", ""]


def _missing(column: ColumnProfile) -> str:
    return f"{column.nulls:,} ({column.null_share:.1%})" if column.nulls else "0"


def _distinct(column: ColumnProfile) -> str:
    return f"{column.distinct:,}" if column.distinct_exact else f"~{column.distinct:,}"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 1e15:  # years stay 2014, not 2,014
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.0f}"
    return f"{value:,.1f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _size(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} B"
    size, unit = float(nbytes) / 1024, "KB"
    for bigger in ("MB", "GB"):
        if size >= 1024:
            size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"

"""Self-contained HTML reports: one file, inline CSS and SVG plots, opens offline.

Hand-written on purpose: a report must stay small (Evidently's HTML reports are a known
complaint for their size, evidently#15) and must not pull a plotting stack into the core
install. Plots are a few kinds of inline SVG; tables are plain HTML. Reports render from
JSON-serialisable snapshots and never recompute anything.
"""

from modelcycle.reports._charts import heatmap, line_chart, scatter
from modelcycle.reports._html import Page, Section, badge, escape, table
from modelcycle.reports._svg import bar_chart, fmt_number, histogram

__all__ = [
    "Page",
    "Section",
    "badge",
    "bar_chart",
    "escape",
    "fmt_number",
    "heatmap",
    "histogram",
    "line_chart",
    "scatter",
    "table",
]

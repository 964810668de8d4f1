"""Page layout of modelcycle's HTML reports: a verdict first, then sections."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from modelcycle._version import __version__

__all__ = ["Page", "Section", "badge", "escape", "table"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:15px;margin:16px 0 6px}
.meta{color:#5b6575;font-size:12px}
.verdict{padding:14px 16px;border-radius:8px;margin:16px 0;font-size:15px;font-weight:600}
.verdict.ok{background:#e3f5e8;color:#14532d}.verdict.warn{background:#fff4d6;color:#713f12}
.verdict.fail{background:#fde2e1;color:#7f1d1d}
section{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:12px 16px;margin:12px 0}
section>h2{margin-top:2px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{background:#fafbfc;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600}
.badge.ok{background:#dcfce7;color:#166534}.badge.warn{background:#fef3c7;color:#92400e}
.badge.fail{background:#fee2e2;color:#991b1b}.badge.info{background:#e0e7ff;color:#3730a3}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}
.card{border:1px solid #eef0f3;border-radius:6px;padding:8px 10px}
.grid.small{grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px}
.grid.small .card{padding:4px 8px}
svg text{font:11px system-ui,sans-serif;fill:#5b6575}
"""


def escape(value: object) -> str:
    """HTML-escape ``value`` as text."""
    return html.escape(str(value), quote=True)


def badge(text: str, level: str = "info") -> str:
    """A small coloured label; ``level`` is ok, warn, fail or info."""
    return f'<span class="badge {escape(level)}">{escape(text)}</span>'


def table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], raw: Sequence[bool] = ()
) -> str:
    """An HTML table; cells are escaped unless their column is marked ``raw`` (pre-built HTML)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            is_raw = i < len(raw) and raw[i]
            numeric = isinstance(cell, (int, float)) and not isinstance(cell, bool)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{cell if is_raw else escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


@dataclass
class Section:
    """A titled block of pre-built HTML."""

    title: str
    body: str


@dataclass
class Page:
    """A whole report: title, a one-line verdict with its level, then sections."""

    title: str
    verdict: str
    level: str = "ok"
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def add(self, title: str, body: str) -> None:
        """Append a section."""
        self.sections.append(Section(title, body))

    def render(self) -> str:
        """The complete HTML document."""
        made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts = [
            "<!doctype html><html lang=en><head><meta charset=utf-8>",
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>{escape(self.title)}</title><style>{_CSS}</style></head><body><main>",
            f"<h1>{escape(self.title)}</h1>",
            f'<div class="meta">{escape(self.subtitle)} · modelcycle {__version__} · {made}</div>',
            f'<div class="verdict {escape(self.level)}">{escape(self.verdict)}</div>',
        ]
        for section in self.sections:
            parts.append(f"<section><h2>{escape(section.title)}</h2>{section.body}</section>")
        parts.append("</main></body></html>")
        return "\n".join(parts)

    def write(self, path: str | Path) -> Path:
        """Write the report to ``path`` (folders created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.render(), encoding="utf-8")
        return target

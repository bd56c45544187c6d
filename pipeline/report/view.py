"""The report's view model and number formatting: sections, tables and charts as the template shows them."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pipeline.report.charts as charts


@dataclass
class Column:
    key: str
    header: str
    fmt: str = "text"
    numeric: bool = False


@dataclass
class TableView:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[str]]
    total_rows: int
    exported: bool = True


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    charts: list[dict[str, str]] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (label, file name), e.g. networks


class Report:
    """Collects sections, exported tables and charts of one render."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.sections: list[Section] = []
        self.exports: dict[str, pd.DataFrame] = {}
        self.chart_files: dict[str, bytes] = {}

    def section(self, key: str, title: str) -> Section:
        section = Section(key, title)
        self.sections.append(section)
        return section

    def export(self, section: Section, name: str, df: pd.DataFrame) -> None:
        self.exports[name] = df
        section.exports.append(name)

    def chart(self, section: Section, chart: charts.Chart, css: str = "") -> None:
        self.chart_files[chart.name] = chart.png
        section.charts.append(
            {
                "name": chart.name,
                "title": chart.title,
                "alt": chart.alt,
                "src": "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii"),
                "css": css,
            }
        )


# ------------------------------------------------------------------------------------------- formatting
def _no_negative_zero(value: float, digits: int) -> float:
    """-0.0004 shown with 3 digits is 0.000, not -0.000."""
    return 0.0 if abs(value) < 0.5 * 10**-digits else value


def sig(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits, so small values keep their precision (0.0412, not 0.0); values of 100 or
    more are shown whole."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if v == 0 or abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    text = np.format_float_positional(v, precision=digits, unique=False, fractional=False, trim="-")
    return text.removesuffix(".")


def fmt(value: Any, kind: str = "text") -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        if pd.isna(value):
            return "—"
    except (TypeError, ValueError):
        pass
    if kind == "int":
        return f"{int(round(float(value))):,}"
    if kind == "sig":
        return sig(value)
    if kind == "num":
        v = float(value)
        return f"{int(v):,}" if v.is_integer() else f"{v:,.1f}"
    if kind in ("f1", "f2", "f3"):
        return f"{_no_negative_zero(float(value), int(kind[1])):,.{kind[1]}f}"
    if kind == "signed":
        return f"{_no_negative_zero(float(value), 3):+.3f}"
    if kind == "share":
        return f"{float(value) * 100:.1f}%"
    if kind == "change":
        return f"{float(value):+.1f}%"
    if kind == "p":
        v = float(value)
        return "<0.001" if v < 0.001 else f"{v:.3f}"
    if kind == "minutes":
        v = float(value)
        if v < 90:
            return f"{v:.0f} min"
        if v < 48 * 60:
            return f"{v / 60:.1f} h"
        return f"{v / 1440:.1f} d"
    if kind == "datetime":
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%d %H:%M")
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)


def table_view(
    name: str,
    title: str,
    df: pd.DataFrame,
    columns: list[tuple[str, str, str]],
    limit: int | None = None,
    exported: bool = True,
) -> TableView:
    cols = [Column(k, h, f, f not in ("text", "datetime", "date")) for k, h, f in columns if k in df.columns]
    shown = df if limit is None else df.head(limit)
    rows = [[fmt(rec.get(c.key), c.fmt) for c in cols] for rec in shown.to_dict("records")]
    return TableView(name, title, cols, rows, len(df), exported)

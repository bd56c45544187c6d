"""The weekly trend report: one self-contained HTML file per ISO week, from the published warehouse alone.

``render_report(settings, week=None)`` writes ``<data_dir>/reports/<YYYY-Www>/``:

* ``report.html``: every chart embedded as a PNG data URI, no scripts, no external CSS, fonts or requests
  (a Content-Security-Policy in the page forbids them), print CSS for a clean PDF;
* ``<table>.csv`` and ``<table>.parquet`` for every table behind a chart or shown in the report, linked from
  the HTML with relative links, and each chart as ``<chart>.png``.

The week defaults to the last complete week of the data (the mart ``last_complete_week``), never the running
calendar week. When that week has no items, the report falls back to the latest complete week that has some and
says so at the top; an explicitly requested week is always
rendered, with a clear "no data" note when it is empty. The directory is replaced as a whole (written next to
it, then renamed), so a report never mixes files of two renders. Same warehouse and week give the same files,
apart from the "generated at" line of the HTML. See docs/report.md.
"""

from pipeline.report.render import GENERATED_MARK, render_report, resolve_week
from pipeline.report.weeks import IsoWeek, last_complete_week

__all__ = ["GENERATED_MARK", "IsoWeek", "last_complete_week", "render_report", "resolve_week"]

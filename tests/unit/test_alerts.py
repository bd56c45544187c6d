"""fct_alerts on a demo warehouse: the planted burst (docs/sources/demo.md) fires its alert, a quiet week raises
none; the alert figures are recomputed from fct_weekly_trends with numpy; and the sending library
(pipeline.alerts) against a loopback HTTP server."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline import lake
from pipeline.config import Settings, load_settings
from pipeline.db import connect_readonly
from pipeline.run import score_affect
from pipeline.sources.base import Window, get_source
from pipeline.sources.demo import BURST_COMMUNITY, is_burst_week
from pipeline.warehouse import build

START = datetime(2026, 8, 24, tzinfo=UTC)  # Monday of 2026-W35
UNTIL = datetime(2026, 10, 20, tzinfo=UTC)  # Tuesday of 2026-W43: W42 is complete
BURST_WEEK = "2026-W41"  # Monday 2026-10-05
QUIET_WEEK = "2026-W40"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("alerts"),
        # a 6-day membership window (the first item is a little after Monday 00:00): the eight weeks of lake hold one warm-up week (W35) and settled ones
        overrides={"demo": {"scale": 0.1}, "affect": {"processes": 1}, "membership": {"window_days": 6}},
        environ={"RIPPLE_PSEUDONYM_KEY": "alerts-tests"},
    )
    lake.ingest(get_source("demo", settings), settings, Window(START, UNTIL))
    score_affect(settings)
    build(settings)
    return settings


def query(settings: Settings, sql: str, *params: Any) -> pd.DataFrame:
    con = connect_readonly(settings.warehouse_path)
    try:
        return con.execute(sql, list(params)).df()
    finally:
        con.close()


def test_the_burst_week_is_planted_where_the_docs_say() -> None:
    monday = date(2026, 10, 5)
    assert all(is_burst_week(monday + timedelta(days=d)) for d in range(7))
    assert not any(is_burst_week(monday - timedelta(days=d)) for d in range(1, 8 * 7 - 6))


def test_the_planted_burst_fires_and_a_quiet_week_raises_none(demo: Settings) -> None:
    alerts = query(demo, "select * from fct_alerts")
    burst = alerts[(alerts["iso_week"] == BURST_WEEK) & (alerts["subject"] == BURST_COMMUNITY)]
    assert set(burst["metric"]) >= {"items"}, alerts.to_string()
    row = burst[burst["metric"] == "items"].iloc[0]
    assert row["direction"] == "up" and row["robust_z"] >= 3.5
    assert alerts[alerts["iso_week"] == QUIET_WEEK].empty, alerts[
        alerts["iso_week"] == QUIET_WEEK
    ].to_string()
    # the figures behind the alert, recomputed from the weekly mart
    trends = query(
        demo,
        "select iso_week, items from fct_weekly_trends where community = ? order by week_start",
        BURST_COMMUNITY,
    ).set_index("iso_week")["items"]
    # baseline: the complete weeks out of the warm-up (fct_weekly_trends); W35 is the warm-up, W43 is running
    flags = query(
        demo,
        "select iso_week, bool_and(is_complete_week) as complete, bool_or(is_warmup) as warmup "
        "from fct_weekly_trends group by iso_week order by iso_week",
    ).set_index("iso_week")
    assert bool(flags.loc["2026-W35", "warmup"]) and not bool(flags.loc["2026-W43", "complete"])
    settled = [w for w in flags.index if flags.loc[w, "complete"] and not flags.loc[w, "warmup"]]
    assert settled[:6] == ["2026-W36", "2026-W37", "2026-W38", "2026-W39", "2026-W40", BURST_WEEK]
    base = trends.loc["2026-W36":"2026-W40"].to_numpy(dtype=float)
    median = np.median(base)
    mad = np.median(np.abs(base - median))
    assert row["value"] == trends.loc[BURST_WEEK]
    assert row["baseline_weeks"] == len(base) == 5
    assert row["baseline_median"] == pytest.approx(median)
    assert row["baseline_mad"] == pytest.approx(mad)
    expected_z = (trends.loc[BURST_WEEK] - median) / max(1.4826 * mad, np.sqrt(max(median, 1)), 0.1 * median)
    assert row["robust_z"] == pytest.approx(expected_z)


def test_no_alert_without_enough_baseline_weeks(demo: Settings) -> None:
    weeks = query(demo, "select distinct iso_week from fct_alerts")["iso_week"]
    # W35 is warm-up, W36-W39 have fewer than alerts.min_baseline_weeks = 4 weeks before them, W43 is running
    assert all("2026-W40" <= w < "2026-W43" for w in weeks), list(weeks)


def test_no_alert_and_no_baseline_in_the_warm_up(tmp_path: Path) -> None:
    """With the default 90-day membership window the eight weeks of lake are all warm-up: no week alerts."""
    settings = load_settings(
        data_dir=tmp_path,
        overrides={"demo": {"scale": 0.05}, "affect": {"processes": 1}},
        environ={"RIPPLE_PSEUDONYM_KEY": "alerts-tests"},
    )
    lake.ingest(get_source("demo", settings), settings, Window(START, UNTIL))
    score_affect(settings)
    build(settings)
    flags = query(settings, "select bool_and(is_warmup) as all_warmup, count(*) as n from fct_weekly_trends")
    assert bool(flags["all_warmup"][0]) and int(flags["n"][0]) > 0
    assert query(settings, "select * from fct_alerts").empty


# ------------------------------------------------------------------------------------------- sending
class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers["Content-Length"])
        _Hook.received.append(
            {
                "path": self.path,
                "type": self.headers["Content-Type"],
                "body": json.loads(self.rfile.read(length)),
            }
        )
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Any:
    _Hook.received, _Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def _with(settings: Settings, **alerts: Any) -> Settings:
    return load_settings(
        data_dir=settings.data_dir,
        overrides={"demo": {"scale": 0.1}, "alerts": alerts},
        environ={"RIPPLE_PSEUDONYM_KEY": "alerts-tests"},
    )


AFTER_BURST = datetime(2026, 10, 13, 3, tzinfo=UTC)  # the nightly run of Tuesday: last complete week is W41


def test_alerts_are_posted_once_to_the_webhook(demo: Settings, hook: str) -> None:
    from pipeline.alerts import send_alerts

    settings = _with(demo, webhook_url=hook)
    shutil.rmtree(settings.state_dir / "alerts_sent", ignore_errors=True)
    result = send_alerts(settings, now=AFTER_BURST)
    expected = query(demo, "select subject, metric from fct_alerts where iso_week = ?", BURST_WEEK)
    assert result == {"week": BURST_WEEK, "sent": True, "via": "webhook", "alerts": len(expected)}
    [got] = _Hook.received
    assert got["path"] == "/alerts" and got["type"].startswith("application/json")
    body = got["body"]
    assert body["week"] == BURST_WEEK and len(body["alerts"]) == len(expected)
    first = body["alerts"][0]
    assert (first["subject"], first["metric"], first["direction"]) == (BURST_COMMUNITY, "items", "up")
    assert body["text"].splitlines()[1].startswith(f"community {BURST_COMMUNITY}: items ")
    # the next nightly run of the same week sends nothing again
    assert send_alerts(settings, now=AFTER_BURST + timedelta(days=1))["reason"] == "already sent"
    assert len(_Hook.received) == 1


def test_an_http_connection_is_a_webhook_and_no_destination_sends_nothing(demo: Settings, hook: str) -> None:
    from pipeline.alerts import send_alerts

    settings = _with(demo)  # no webhook_url
    shutil.rmtree(settings.state_dir / "alerts_sent", ignore_errors=True)
    assert send_alerts(settings, now=AFTER_BURST) == {
        "week": BURST_WEEK,
        "sent": False,
        "reason": "no destination configured",
    }
    assert _Hook.received == []
    conn = {"conn_type": "http", "host": hook.removeprefix("http://"), "schema": "http"}
    assert send_alerts(settings, connection=conn, now=AFTER_BURST)["sent"] is True
    assert _Hook.received[0]["body"]["week"] == BURST_WEEK


def test_a_failing_webhook_is_an_error_and_is_retried_next_run(demo: Settings, hook: str) -> None:
    from pipeline.alerts import send_alerts
    from pipeline.errors import RippleError

    settings = _with(demo, webhook_url=hook)
    shutil.rmtree(settings.state_dir / "alerts_sent", ignore_errors=True)
    _Hook.status = 500
    with pytest.raises(RippleError, match="alerts webhook failed"):
        send_alerts(settings, now=AFTER_BURST)
    _Hook.status = 200
    assert send_alerts(settings, now=AFTER_BURST)["sent"] is True  # nothing was marked as sent

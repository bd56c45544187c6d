"""fct_alerts on a demo warehouse: the planted burst (docs/sources/demo.md) fires its alert, a quiet week raises
none; the alert figures are recomputed from fct_weekly_trends with numpy; and the sending library
(pipeline.alerts) against a loopback HTTP server."""

from __future__ import annotations

import json
import re
import shutil
import socket
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
AFTER_BURST = datetime(2026, 10, 13, 3, tzinfo=UTC)  # the nightly run of Tuesday: last complete week is W41


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


# ------------------------------------------------------------------------------------------- terms
@pytest.fixture(scope="module")
def demo_full(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The same eight weeks at the demo's full scale: the burst's words reach alerts.min_count (10 items)."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("alerts-full"),
        overrides={"demo": {"scale": 1.0}, "affect": {"processes": 1}, "membership": {"window_days": 6}},
        environ={"RIPPLE_PSEUDONYM_KEY": "alerts-tests"},
    )
    lake.ingest(get_source("demo", settings), settings, Window(START, UNTIL))
    score_affect(settings)
    build(settings)
    return settings


_URL = re.compile(r"(https?://|www\.)[^\s<>\"']+|\[(removed|deleted)\]")
_HANDLE = re.compile(r"(^|[^\w])@\w+")
_TOKEN = re.compile(r"#?[^\W\d_][\w'’-]*")


def _terms(title: str | None, text: str | None) -> set[str]:
    body = " ".join(t for t in (title, text) if isinstance(t, str)).lower()
    body = _HANDLE.sub(" ", _URL.sub(" ", body))
    return {t.rstrip("'’-") for t in _TOKEN.findall(body)}


def test_the_burst_raises_term_alerts_for_its_vocabulary(demo_full: Settings) -> None:
    alerts = query(demo_full, "select * from fct_alerts where subject_kind = 'term'")
    burst = alerts[alerts["iso_week"] == BURST_WEEK].set_index("subject")
    # c/cooking's topics: the recipe, the bakery, the restaurant review, the spice market
    assert {"bakery", "recipe", "restaurant"} <= set(burst.index), burst.to_string()
    assert (burst["direction"] == "up").all() and (burst["robust_z"] >= 3.5).all()
    assert burst["community"].isna().all() and (burst["metric"] == "items").all()
    # the largest moves are the burst's own words (its extra comments raise a few common comment words too)
    top = burst.sort_values("robust_z", ascending=False).index[:5]
    assert set(top) <= {"recipe", "bakery", "restaurant", "review", "spice", "market"}, burst.to_string()
    assert "removed" not in burst.index  # the '[removed]' placeholder is not a word
    quiet = alerts[alerts["iso_week"] == QUIET_WEEK]
    assert quiet.empty, quiet.to_string()
    assert (alerts.groupby("iso_week").size() <= 20).all()
    # the figures behind 'bakery', recomputed from the items' texts: posts and comments using the word per week,
    # 0 in a week without any; baseline W36-W40 (W35 is warm-up)
    posts = query(demo_full, "select kind, title, text, created_at, is_deleted from stg_posts")
    posts = posts[(posts["kind"] != "share") & ~posts["is_deleted"].fillna(False).astype(bool)]
    uses = [("bakery" in _terms(t, x)) for t, x in zip(posts["title"], posts["text"], strict=True)]
    weeks = posts["created_at"].dt.strftime("%G-W%V")[uses].value_counts()
    base = np.array([weeks.get(f"2026-W{w}", 0) for w in range(36, 41)], dtype=float)
    median = np.median(base)
    mad = np.median(np.abs(base - median))
    row = burst.loc["bakery"]
    assert row["value"] == weeks[BURST_WEEK] >= 10
    assert row["baseline_weeks"] == 5
    assert row["baseline_median"] == pytest.approx(median)
    assert row["baseline_mad"] == pytest.approx(mad)
    scale = max(1.4826 * mad, np.sqrt(max(median, 10)), 0.1 * median)
    assert row["robust_z"] == pytest.approx((weeks[BURST_WEEK] - median) / scale)


def test_weekly_terms_count_items_once_and_drop_stop_words_and_shares(demo_full: Settings) -> None:
    terms = query(demo_full, "select * from int_weekly_terms")
    assert not terms["term"].isin(["the", "and", "this", "that", "with"]).any()
    assert (terms["term"].str.len() >= 3).all()
    posts = query(
        demo_full,
        "select kind, title, text from stg_posts where not coalesce(is_deleted, false) "
        "and strftime(created_at, '%G-W%V') = ?",
        BURST_WEEK,
    )
    for word in ("bakery", "senate"):
        expected = sum(
            word in _terms(t, x)
            for k, t, x in zip(posts["kind"], posts["title"], posts["text"], strict=True)
            if k != "share"
        )
        got = terms[(terms["term"] == word) & (terms["week_start"] == pd.Timestamp("2026-10-05"))]["items"]
        assert int(got.iloc[0]) == expected > 0


def test_the_report_lists_term_alerts_like_the_others(demo_full: Settings) -> None:
    from pipeline.report import render_report

    path = render_report(demo_full, BURST_WEEK, now=AFTER_BURST)
    html = path.read_text(encoding="utf-8")
    table = re.search(r'<table id="table-alerts".*?</table>', html, re.S)
    assert table is not None
    rows = re.findall(r'<tr class="alert-(?:up|down)">(.*?)</tr>', table.group(0), re.S)
    ref = query(
        demo_full,
        "select subject_kind, subject, value from fct_alerts where iso_week = ? order by abs(robust_z) desc",
        BURST_WEEK,
    )
    assert len(rows) == len(ref)
    terms = [
        (row, rec) for row, rec in zip(rows, ref.itertuples(), strict=True) if rec.subject_kind == "term"
    ]
    assert len(terms) == (ref["subject_kind"] == "term").sum() >= 3
    for row, rec in terms:
        assert ">term<" in row and f">{rec.subject}<" in row and "<td>items using it</td>" in row
        assert f">{int(rec.value):,}<" in row
    # the summary's claim, when a term is the week's largest alert
    from pipeline.report.summary import _alerts_claim
    from pipeline.report.weeks import IsoWeek

    words = query(
        demo_full,
        "select * from fct_alerts where iso_week = ? and subject_kind = 'term' order by abs(robust_z) desc",
        BURST_WEEK,
    )
    claim = str(_alerts_claim(words, IsoWeek.parse(BURST_WEEK)))
    top = words.iloc[0]
    assert f"Alert: items using {top['subject']} rose to {int(top['value']):,} against a usual" in claim


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


# ------------------------------------------------------------------------------------------- e-mail
class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
def smtp_server() -> Any:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    inbox = _Inbox()
    with (
        socket.socket() as probe
    ):  # a free loopback port (the controller checks it is up by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = controller_mod.Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


SMTP_PASSWORD = "pw-never-logged-7f3a"


def test_alerts_are_e_mailed_once_per_week(
    demo: Settings, smtp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from email import message_from_bytes, policy

    from pipeline.alerts import send_alerts

    inbox, port = smtp_server
    settings = _with(demo)  # no webhook: the connection decides
    shutil.rmtree(settings.state_dir / "alerts_sent", ignore_errors=True)
    conn = {
        "conn_type": "email",
        "host": "127.0.0.1",
        "port": port,
        "login": "ripple-bot",
        "password": SMTP_PASSWORD,
        "extra": {"to": "ops@example.org, desk@example.org", "from": "ripple@example.org"},
    }
    caplog.set_level("DEBUG")
    expected = query(
        demo,
        "select subject, metric, value from fct_alerts where iso_week = ? order by abs(robust_z) desc",
        BURST_WEEK,
    )
    result = send_alerts(settings, connection=conn, now=AFTER_BURST)
    assert result == {"week": BURST_WEEK, "sent": True, "via": "email", "alerts": len(expected)}
    [envelope] = inbox.messages
    assert inbox.logins == [("ripple-bot", SMTP_PASSWORD)]
    assert envelope.mail_from == "ripple@example.org"
    assert sorted(envelope.rcpt_tos) == ["desk@example.org", "ops@example.org"]
    msg = message_from_bytes(envelope.content, policy=policy.default)
    assert msg["From"] == "ripple@example.org"
    assert msg["To"] == "ops@example.org, desk@example.org"
    assert msg["Subject"] == (
        f"ripple alerts for {BURST_WEEK}: {len(expected)} series moved beyond their usual range"
    )
    lines = msg.get_content().strip().splitlines()
    assert len(lines) == 1 + len(expected)
    for line, rec in zip(lines[1:], expected.itertuples(), strict=True):
        assert f" {rec.subject}: {rec.metric} {rec.value:g} vs a usual " in line
    assert lines[1].startswith(f"community {BURST_COMMUNITY}: items ")
    assert SMTP_PASSWORD not in caplog.text
    assert "sent" in caplog.text and BURST_WEEK in caplog.text
    # the next nightly run of the same week sends nothing
    again = send_alerts(settings, connection=conn, now=AFTER_BURST + timedelta(days=1))
    assert again == {"week": BURST_WEEK, "sent": False, "reason": "already sent"}
    assert len(inbox.messages) == 1

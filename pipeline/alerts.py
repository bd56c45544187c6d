"""Sending the week's alerts (the ``fct_alerts`` mart) to a webhook or by e-mail.

The nightly DAG calls :func:`send_alerts` once per run; the alerts of the last complete ISO week are sent once
(a marker under ``state/alerts_sent/`` remembers the weeks already sent), and only when a destination is
configured: ``[alerts] webhook_url``, else the Airflow connection ``alerts.connection_id`` (``http``: POST to its
URL; ``email``/``smtp``: an e-mail through its SMTP server). Without a destination nothing happens. This module
never imports Airflow: the DAG passes the connection in as a plain mapping.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Settings
from pipeline.db import connect_readonly
from pipeline.errors import RippleError
from pipeline.report.db import Warehouse
from pipeline.report.weeks import IsoWeek, last_complete_week
from pipeline.versions import published_path

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


def week_alerts(settings: Settings, week: IsoWeek) -> pd.DataFrame:
    """The week's rows of ``fct_alerts`` in the published warehouse, largest |robust z| first
    (``sql/report/alerts.sql``)."""
    path = published_path(settings)  # on an object store: the current version, cached (pipeline.versions)
    if not path.exists():
        raise RippleError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    con = connect_readonly(path)
    try:
        return Warehouse(con).df("alerts", week=week.label)
    finally:
        con.close()


def format_alerts(alerts: pd.DataFrame, week: IsoWeek) -> dict[str, Any]:
    """The JSON body sent: the week, one line of text per alert (chat webhooks show ``text``) and the rows."""
    lines = [
        f"{r.subject_kind} {r.subject}: {r.metric} {r.value:g} vs a usual {r.baseline_median:g} "
        f"over {r.baseline_weeks} weeks (robust z {r.robust_z:+.1f}, {r.direction})"
        for r in alerts.itertuples()
    ]
    header = f"ripple alerts for {week.label}: {len(alerts)} series moved beyond their usual range"
    return {
        "week": week.label,
        "text": "\n".join([header, *lines]),
        "alerts": json.loads(alerts.to_json(orient="records")),
    }


def post_json(url: str, payload: Mapping[str, Any], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST ``payload`` as JSON; returns the HTTP status (an error status raises RippleError)."""
    if not url.lower().startswith(("https://", "http://")):
        raise RippleError(f"alerts webhook must be an http(s) URL, got {url[:40]!r}")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return int(response.status)
    except OSError as exc:  # urllib.error.URLError and HTTPError are OSErrors
        raise RippleError(f"alerts webhook failed: {exc}") from exc


def send_email(connection: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """Send the alerts' text through the SMTP server of an ``email``/``smtp`` connection (extra ``to``: the
    recipients, comma-separated; extra ``from``: the sender, default the login)."""
    extra = dict(connection.get("extra") or {})
    to = extra.get("to") or connection.get("login")
    if not to:
        raise RippleError("alerts e-mail connection has no recipient (extra 'to')")
    msg = EmailMessage()
    msg["Subject"] = payload["text"].splitlines()[0]
    msg["From"] = extra.get("from") or connection.get("login") or "ripple@localhost"
    msg["To"] = to
    msg.set_content(payload["text"])
    with smtplib.SMTP(connection.get("host") or "localhost", int(connection.get("port") or 25)) as smtp:
        if extra.get("starttls", True) and smtp.has_extn("starttls"):
            smtp.starttls()
        if connection.get("login") and connection.get("password"):
            smtp.login(connection["login"], connection["password"])
        smtp.send_message(msg)


def _destination(settings: Settings, connection: Mapping[str, Any] | None) -> tuple[str, Any] | None:
    url = settings.alerts.webhook_url
    if url:
        return "webhook", url
    if not connection:
        return None
    kind = str(connection.get("conn_type") or "").lower()
    if kind in ("http", "https"):
        host = str(connection.get("host") or "")
        scheme = "" if "://" in host else f"{connection.get('schema') or 'https'}://"
        return "webhook", scheme + host
    if kind in ("email", "smtp"):
        return "email", connection
    return None


def _marker(settings: Settings, week: IsoWeek) -> Path:
    return settings.state_dir / "alerts_sent" / f"{week.label}.json"


def send_alerts(
    settings: Settings, *, connection: Mapping[str, Any] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Send the alerts of the last complete week before ``now`` once; what was done, as a small dict."""
    week = last_complete_week(now or datetime.now(UTC))
    dest = _destination(settings, connection)
    if dest is None:
        return {"week": week.label, "sent": False, "reason": "no destination configured"}
    marker = _marker(settings, week)
    if marker.exists():
        return {"week": week.label, "sent": False, "reason": "already sent"}
    alerts = week_alerts(settings, week)
    if alerts.empty:
        return {"week": week.label, "sent": False, "reason": "no alerts"}
    payload = format_alerts(alerts, week)
    kind, target = dest
    if kind == "webhook":
        post_json(target, payload)
    else:
        send_email(target, payload)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"via": kind, "alerts": len(alerts)}), encoding="utf-8")
    log.info("sent %d alerts for %s by %s", len(alerts), week.label, kind)
    return {"week": week.label, "sent": True, "via": kind, "alerts": len(alerts)}

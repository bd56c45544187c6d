"""The nightly DAG's tasks with the data directory on an S3-compatible server (moto on loopback): the lake's
Airflow connection supplies the endpoint and keys without showing them anywhere, and the build, explain and
publish tasks of one run may each run on another worker."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import boto3
import duckdb
import pytest

from pipeline import orchestration as lib
from pipeline import shared, versions
from tests.dags.conftest import require_airflow

SECRET = "lake-secret-do-not-print-7f3a9c"
AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN")


@pytest.fixture
def lake(s3_bucket: str, s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The data directory on the moto server, reachable only through AIRFLOW_CONN_RIPPLE_LAKE."""
    require_airflow()
    data = f"{s3_bucket}/data"
    for key in AWS:  # restored after the test, whatever the tasks set
        monkeypatch.setenv(key, "unset")
        monkeypatch.delenv(key)
    conn = {
        "conn_type": "aws",
        "login": "lake-key-id",
        "password": SECRET,
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_RIPPLE_LAKE", json.dumps(conn))
    monkeypatch.setenv("RIPPLE_DATA_DIR", data)
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "dag-lake-test-key-" + "0" * 32)
    monkeypatch.setenv("RIPPLE__AIRFLOW__LOCK_WAIT_SECONDS", "5")
    monkeypatch.setattr(lib, "_connection_lookup", None)
    shared.forget_stores()
    return data


def _on(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next task runs on another worker: its own local disk."""
    monkeypatch.setenv("RIPPLE__WAREHOUSE__CACHE_DIR", str(machine))


def _everything_stored(data: str, s3_server: str) -> bytes:
    bucket, _, _prefix = data[len("s3://") :].partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys, "nothing was written to the lake"
    return b"".join(client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys)


def _secret_in_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_the_lake_connection_becomes_the_aws_variables():
    require_airflow()
    from airflow.sdk import Connection

    conn = Connection.from_json(
        json.dumps(
            {
                "conn_type": "aws",
                "login": "id",
                "password": "secret",
                "extra": {"endpoint_url": "https://storage.googleapis.com", "region_name": "auto"},
            }
        ),
        conn_id="ripple_lake",
    )
    assert lib.lake_environment(conn) == {
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_ENDPOINT_URL": "https://storage.googleapis.com",
        "AWS_DEFAULT_REGION": "auto",
    }


@pytest.mark.airflow
def test_build_explain_and_publish_on_three_workers_through_the_lake_connection_never_show_the_secret(
    lake, s3_server, tmp_path, monkeypatch, capsys, caplog
):
    from datetime import UTC, datetime

    from tests.dags.conftest import load_dag_module

    caplog.set_level(logging.INFO)
    load_dag_module("ripple_nightly")
    # the DAG file registers Connection.get: the lake's connection resolves, an undefined one is None
    assert lib.connection("ripple_lake") is not None
    assert lib.connection("no_such_connection") is None
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ

    _on(tmp_path / "worker-a", monkeypatch)
    planned = lib.plan_run(
        {"since": "2026-10-01", "until": "2026-10-02"},
        None,
        None,
        run_after=datetime(2026, 10, 2, tzinfo=UTC),
    )
    assert os.environ["AWS_ENDPOINT_URL"] == s3_server  # set in this task process from the connection
    label = planned["run_id"]
    built = lib.build(label)
    candidate = Path(built["candidate"])
    con = duckdb.connect(str(candidate), read_only=True)
    before = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    con.close()
    assert "fct_spread_drivers" not in before  # written by explain, the next task

    _on(tmp_path / "worker-b", monkeypatch)
    explained = lib.explain(label)
    assert "pipeline.explain:explain" in explained["hooks"]

    _on(tmp_path / "worker-a", monkeypatch)  # still holds the candidate as built, before explain
    published = lib.publish(label, built)
    record = versions.current(lib.settings())
    assert record["run"] == label
    reader = versions.published_path(lib.settings())
    con = duckdb.connect(str(reader), read_only=True)
    after = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    con.close()
    assert "fct_spread_drivers" in after and before < after  # what explain wrote on worker b was published

    _on(tmp_path / "worker-c", monkeypatch)  # a retry of publish elsewhere publishes nothing twice
    lib.publish(label, built)
    assert versions.current(lib.settings())["version"] == record["version"]
    stored = _everything_stored(lake, s3_server)
    assert versions.data_store(lib.settings()).list("warehouse/candidates") == []  # dropped once published

    # the secret is nowhere: not in XComs, output, logs, the store or local files
    xcoms = json.dumps([planned, built, explained, published], default=str)
    captured = capsys.readouterr()
    for text in (xcoms, captured.out, captured.err, caplog.text):
        assert SECRET not in text
    assert (
        "from the Airflow connection ripple_lake" in captured.out + caplog.text
    )  # its name, not its content
    assert SECRET.encode() not in stored
    assert _secret_in_files(tmp_path) == []

"""Fixtures shared by the whole suite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's ripple.toml, data directory or keys."""
    for key in ("RIPPLE_CONFIG", "RIPPLE_DATA_DIR", "RIPPLE_PSEUDONYM_KEY"):
        monkeypatch.delenv(key, raising=False)
    import os

    for key in list(os.environ):
        if key.startswith("RIPPLE__"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _library_log_levels():
    """A command run in-process quiets the HTTP libraries' loggers (pipeline.retry.quiet_libraries): undo it."""
    import logging

    from pipeline.retry import LIBRARY_LOGGERS

    names = [*LIBRARY_LOGGERS, "pipeline"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"recorded platform data not available at {REALDATA}")
    return REALDATA


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def small_demo_settings(data_dir: Path, scale: float = 0.1, **sections: dict) -> Settings:
    overrides = {"demo": {"scale": scale, "seed": 7}, **sections}
    return load_settings(data_dir=data_dir, overrides=overrides)


WINDOW_SINCE = datetime(2026, 10, 1, tzinfo=UTC)
WINDOW_UNTIL = datetime(2026, 10, 11, tzinfo=UTC)


# ------------------------------------------------------------------------------ an S3-compatible server (moto)
def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on a free loopback port for the session; the AWS_* variables point at it.

    Yields the endpoint URL. Skips when moto's server is not installed.
    """
    import os
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(exe).exists():
        pytest.skip("moto[server] is not installed")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.skip("moto_server did not start")
                time.sleep(0.05)
        with pytest.MonkeyPatch.context() as mp:
            for key in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
                mp.delenv(key, raising=False)
            mp.setenv("AWS_ENDPOINT_URL", endpoint)
            mp.setenv("AWS_ACCESS_KEY_ID", "testing")
            mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
            mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
            assert os.environ["AWS_ENDPOINT_URL"] == endpoint
            yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_bucket(s3_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket on the moto server for one test; yields ``s3://<bucket>``."""
    import re
    import uuid

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"t-{name}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    return f"s3://{bucket}"

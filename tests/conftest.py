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

"""Fixtures for the Airflow DAG tests.

Airflow reads its home and database at import time, so this module points AIRFLOW_HOME at a private directory
before any test imports Airflow: the tests never touch a developer's own Airflow installation or database.
Tests that need Airflow carry the ``airflow`` marker and skip cleanly (``pytest.importorskip``) without it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
DAG_FILES = {
    "ripple_nightly": DAGS_DIR / "ripple_nightly.py",
    "ripple_weekly_report": DAGS_DIR / "ripple_weekly_report.py",
}

_HOME = Path(tempfile.gettempdir()) / f"ripple-airflow-tests-{os.getuid()}"
_HOME.mkdir(parents=True, exist_ok=True)
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"


AIRFLOW_MISSING = "Apache Airflow is not importable (pip install -e '.[airflow]')"


def require_airflow() -> None:
    """Skip the calling test (or, at module level, the module) when Airflow cannot be imported."""
    pytest.importorskip("airflow.sdk", reason=AIRFLOW_MISSING, exc_type=ImportError)


@pytest.fixture
def ripple_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ripple.toml and no RIPPLE_* overrides, so that DAG parsing sees the defaults."""
    for key in list(os.environ):
        if key.startswith("RIPPLE"):
            monkeypatch.delenv(key)
    config = tmp_path / "ripple.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("RIPPLE_CONFIG", str(config))
    monkeypatch.setenv("RIPPLE_DATA_DIR", str(tmp_path / "data"))
    return config


def load_dag_module(name: str) -> ModuleType:
    """Import a DAG file as a fresh module (the way the DAG processor does: by path, not as a package)."""
    path = DAG_FILES[name]
    spec = importlib.util.spec_from_file_location(f"_ripple_test_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module

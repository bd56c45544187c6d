from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RIPPLE = str(Path(sys.executable).with_name("ripple"))


def ripple(
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = False,
    timeout: int = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    full_env.update(
        {"RIPPLE_PSEUDONYM_KEY": "test-key-" + "0" * 32, "RIPPLE__DEMO__SCALE": "0.3", "COLUMNS": "200"}
    )
    full_env.update(env or {})
    proc = subprocess.run(
        [RIPPLE, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ripple {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small demo pipeline run shared by the CLI tests (10 days, scale 0.3)."""
    data = tmp_path_factory.mktemp("demo_run")
    ripple("run", "--since", "2026-10-01", "--until", "2026-10-11", "--data-dir", str(data), "-q", check=True)
    return data

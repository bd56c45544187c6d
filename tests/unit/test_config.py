from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


def test_defaults_run_the_demo_source(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.sources == ["demo"]
    assert settings.get("privacy", "pseudonymize") is True
    assert settings.warehouse_path == tmp_path.resolve() / "warehouse.duckdb"


def test_toml_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text('data_dir = "lakehouse"\n[demo]\nscale = 2.0\nseed = 1\n[overlap]\nmin_shared = 9\n')
    env = {"RIPPLE__DEMO__SEED": "5", "RIPPLE__MEMBERSHIP__BOTS": '["a", "b"]'}
    settings = load_settings(config=config, environ=env, overrides={"overlap": {"min_shared": 3}})
    assert settings.get("demo", "scale") == 2.0
    assert settings.get("demo", "seed") == 5
    assert settings.get("membership", "bots") == ["a", "b"]
    assert settings.get("overlap", "min_shared") == 3
    # a relative data_dir in the file is relative to the file
    assert settings.data_dir == (tmp_path / "lakehouse").resolve()


def test_ripple_data_dir_env_wins_over_file(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text('data_dir = "elsewhere"\n')
    settings = load_settings(config=config, environ={"RIPPLE_DATA_DIR": str(tmp_path / "d")})
    assert settings.data_dir == (tmp_path / "d").resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[demo]\nscale = -1\n", "demo.scale must be"),
        ("[spread]\nmin_outsider_share = 2\n", "spread.min_outsider_share must be between 0 and 1"),
        ("[overlap]\nmin_shared = 'many'\n", "overlap.min_shared must be a number"),
        ("[run]\nsources = 'demo'\n", "run.sources must be a list"),
        ("demo = 3\n", "[demo] must be a table"),
        ("[demo\n", "invalid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_settings(config=config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config=tmp_path / "nope.toml")

import os
import re
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline.config import DEFAULTS, SECTIONS, Settings, airflow_default_args, load_settings
from pipeline.errors import ConfigError
from pipeline.warehouse import set_variables

REPO = Path(__file__).resolve().parents[2]


def test_defaults_run_the_demo_source(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={})
    assert settings.sources == ["demo"]
    assert settings.privacy.pseudonymize is True
    assert settings.membership.window_days == 90
    assert settings.membership.bots[0] == "AutoModerator"
    assert settings.warehouse_path == tmp_path.resolve() / "warehouse.duckdb"
    assert settings.posts_dir == tmp_path.resolve() / "lake" / "posts"
    assert settings.config_path is None


def test_toml_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text('data_dir = "lakehouse"\n[demo]\nscale = 2\nseed = 1\n[overlap]\nmin_shared = 9\n')
    env = {"RIPPLE__DEMO__SEED": "5", "RIPPLE__MEMBERSHIP__BOTS": '["a", "b"]'}
    settings = load_settings(config=config, environ=env, overrides={"overlap": {"min_shared": 3}})
    assert settings.demo.scale == 2.0
    assert settings.demo.seed == 5
    assert settings.membership.bots == ["a", "b"]
    assert settings.overlap.min_shared == 3
    assert settings.config_path == config
    # a relative data_dir in the file is relative to the file
    assert settings.data_dir == (tmp_path / "lakehouse").resolve()


def test_environment_text_values(tmp_path: Path) -> None:
    env = {
        "RIPPLE__AIRFLOW__NIGHTLY_SCHEDULE": "0 6 * * *",  # not TOML: taken as text
        "RIPPLE__REDDIT__SITE": "2024",  # TOML would make it a number; a text setting keeps the text
        "RIPPLE__WAREHOUSE__MEMORY_LIMIT": '"8GB"',
    }
    settings = load_settings(data_dir=tmp_path, environ=env)
    assert settings.airflow.nightly_schedule == "0 6 * * *"
    assert settings.reddit.site == "2024"
    assert settings.warehouse.memory_limit == "8GB"


def test_ripple_data_dir_env_wins_over_file(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text('data_dir = "elsewhere"\n')
    settings = load_settings(config=config, environ={"RIPPLE_DATA_DIR": str(tmp_path / "d")})
    assert settings.data_dir == (tmp_path / "d").resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown section, with a suggestion
        (
            "[membrship]\nwindow_days = 3\n",
            "ripple.toml: [membrship]: unknown section (did you mean membership?)",
        ),
        # unknown key, with a suggestion
        (
            "[membership]\nwindow_dayz = 90\n",
            "ripple.toml: membership.window_dayz: unknown setting (did you mean window_days?)",
        ),
        ("[x]\ncolour = 1\n", "ripple.toml: x.colour: unknown setting (known: "),
        ("window_days = 1\n", "ripple.toml: window_days: unknown setting"),
        # wrong types
        (
            "[membership]\nwindow_days = 90.5\n",
            "ripple.toml: membership.window_days must be a whole number, got 90.5",
        ),
        (
            "[membership]\nwindow_days = 'ninety'\n",
            "ripple.toml: membership.window_days must be a whole number, got 'ninety'",
        ),
        (
            "[overlap]\nmin_shared = true\n",
            "ripple.toml: overlap.min_shared must be a whole number, got True",
        ),
        ("[demo]\nscale = true\n", "ripple.toml: demo.scale must be a number, got True"),
        ("[privacy]\npseudonymize = 1\n", "ripple.toml: privacy.pseudonymize must be true or false, got 1"),
        ("[run]\nsources = 'demo'\n", "ripple.toml: run.sources must be a list, got 'demo'"),
        ("[run]\nsources = ['demo', 3]\n", "ripple.toml: run.sources[1] must be text, got 3"),
        ("[warehouse]\nmemory_limit = 3\n", "ripple.toml: warehouse.memory_limit must be text, got 3"),
        ("data_dir = 3\n", "ripple.toml: data_dir must be text, got 3"),
        # out of bounds
        ("[demo]\nscale = -1\n", "ripple.toml: demo.scale must be >= 0.001, got -1"),
        (
            "[spread]\nmin_outsider_share = 2\n",
            "ripple.toml: spread.min_outsider_share must be between 0 and 1, got 2",
        ),
        ("[x]\nmax_results = 101\n", "ripple.toml: x.max_results must be between 1 and 100, got 101"),
        # shape of the file
        ("demo = 3\n", "ripple.toml: [demo] must be a table, got int"),
        ("[demo\n", "ripple.toml: invalid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config=config, environ={})
    assert str(info.value).startswith(message.replace("ripple.toml", str(config)))
    assert "\n" not in str(info.value)


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text("[x]\ncolour = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config=config, environ={})
    known = str(info.value).split("(known: ", 1)[1].rstrip(")").split(", ")
    assert sorted(known) == sorted(SECTIONS["x"].model_fields)
    assert "max_results" in known


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RIPPLE__MEMBERSHIP__WINDOW_DAYZ": "9"},
            "RIPPLE__MEMBERSHIP__WINDOW_DAYZ: membership.window_dayz: unknown setting (did you mean window_days?)",
        ),
        ({"RIPPLE__BLUESY__HANDLES": "[]"}, "RIPPLE__BLUESY__HANDLES: [bluesy]: unknown section"),
        ({"RIPPLE__DEMO": "3"}, "RIPPLE__DEMO: expected RIPPLE__<SECTION>__<KEY>"),
        (
            {"RIPPLE__MEMBERSHIP__WINDOW_DAYS": "ninety"},
            "RIPPLE__MEMBERSHIP__WINDOW_DAYS: membership.window_days must be a whole number, got 'ninety'",
        ),
        (
            {"RIPPLE__MEMBERSHIP__WINDOW_DAYS": "90.5"},
            "RIPPLE__MEMBERSHIP__WINDOW_DAYS: membership.window_days must be a whole number, got 90.5",
        ),
        (
            {"RIPPLE__AFFECT__PROCESSES": "0"},
            "RIPPLE__AFFECT__PROCESSES: affect.processes must be >= 1, got 0",
        ),
        (
            {"RIPPLE__AFFECT__ENABLED": "yes"},
            "RIPPLE__AFFECT__ENABLED: affect.enabled must be true or false, got 'yes'",
        ),
    ],
)
def test_bad_environment_is_one_clear_error(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(data_dir=tmp_path, environ=env)
    assert str(info.value).startswith(message)


def test_bad_argument_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^arguments: overlap\.min_sharde: unknown setting \(did you mean min_shared\?\)$"
    ):
        load_settings(data_dir=tmp_path, environ={}, overrides={"overlap": {"min_sharde": 2}})
    with pytest.raises(ConfigError, match=r"^arguments: demo\.seed must be a whole number, got '7'$"):
        load_settings(data_dir=tmp_path, environ={}, overrides={"demo": {"seed": "7"}})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config=tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="RIPPLE_CONFIG points to a missing file"):
        load_settings(environ={"RIPPLE_CONFIG": str(tmp_path / "nope.toml")})


def test_attributes_and_section_read_the_typed_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={}, overrides={"reddit": {"revisit_days": 1.5}})
    assert settings.reddit.revisit_days == 1.5
    assert settings.membership.window_days == 90
    assert not hasattr(settings, "get")  # no string lookups that could hide a typo
    assert settings.section("reddit")["submission_limit"] == 1000
    with pytest.raises(AttributeError):
        settings.membership.window_dayz  # noqa: B018
    with pytest.raises(KeyError, match=r"unknown settings section \[membrship\]"):
        settings.section("membrship")
    with pytest.raises(KeyError, match="unknown setting reddit.sites"):
        settings.section("reddit").get("sites", "ripple")


def test_section_assignments_are_validated_and_write_through(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={})
    settings.section("affect")["emotions"] = False
    assert settings.affect.emotions is False
    with pytest.raises(ConfigError, match=r"^affect\.processes must be >= 1, got 0$"):
        settings.section("affect")["processes"] = 0
    assert settings.affect.processes == 2
    with pytest.raises(KeyError, match="unknown setting affect.enable"):
        settings.section("affect")["enable"] = False


def test_entries_and_sql_variables_cover_every_setting(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, environ={}, overrides={"spread": {"min_outsider_share": 0.25}}
    )
    entries = {(section, key): value for section, key, value in settings.entries()}
    assert entries == {(s, k): v for s, table in settings.values.items() for k, v in table.items()}
    assert len(entries) == sum(len(model.model_fields) for model in SECTIONS.values())
    con = duckdb.connect()
    set_variables(con, settings)
    assert con.execute("select getvariable('spread_min_outsider_share')").fetchone() == (0.25,)
    assert con.execute("select getvariable('membership_window_days')").fetchone() == (90,)
    assert con.execute("select getvariable('run_sources')").fetchone() == (["demo"],)
    # unset (derived from the platform declarations): no variable; the warehouse registers cfg_detect_platforms
    assert con.execute("select getvariable('communities_detect_platforms')").fetchone() == (None,)


def test_airflow_default_args_follow_the_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={"RIPPLE__AIRFLOW__RETRY_DELAY_SECONDS": "30"})
    args = airflow_default_args(settings)
    assert args["retries"] == 3 and args["retry_delay"] == timedelta(seconds=30)
    assert airflow_default_args(Settings(data_dir=tmp_path))["retry_delay"] == timedelta(minutes=2)


def _documented_defaults() -> dict[tuple[str, str], object]:
    doc = (REPO / "docs" / "configuration.md").read_text()
    found = {}
    for part in doc.split("\n## `[")[1:]:
        section = part.split("]", 1)[0]
        for key, default in re.findall(r"^\| `(\w+)` \| `(.+?)` \|", part, re.M):
            found[(section, key)] = tomllib.loads(f"v = {default}")["v"]
    return found


def test_documented_defaults_are_the_real_ones() -> None:
    documented = _documented_defaults()
    # a setting without a default (None: derived, e.g. communities.detect_platforms) is documented as "unset"
    assert documented == {
        (s, k): v for s, table in DEFAULTS.items() for k, v in table.items() if v is not None
    }


def test_every_setting_has_a_description() -> None:
    missing = [
        f"{s}.{k}"
        for s, model in SECTIONS.items()
        for k, f in model.model_fields.items()
        if not f.description
    ]
    assert missing == []


def test_cli_prints_one_line_and_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text("[membership]\nwindow_dayz = 90\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    env.update({"RIPPLE_CONFIG": str(config), "PYTHONPATH": str(REPO), "COLUMNS": "300"})
    ripple = str(Path(sys.executable).with_name("ripple"))
    proc = subprocess.run(
        [ripple, "status", "--data-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {config}: membership.window_dayz: unknown setting (did you mean window_days?)"
    )
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00binary",
        b"[x]\nqueries = [1, [2]]\n",
        b"[reddit]\nsearches = [{query = 1}, 2]\n",
        b"[[run]]\n",
    ],
)
def test_any_bad_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    """The DAGs load settings at parse time: anything but ConfigError would break the DAG import."""
    config = tmp_path / "ripple.toml"
    config.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings(config=config, environ={})
    assert str(info.value).startswith(f"{config}: ") and "\n" not in str(info.value)

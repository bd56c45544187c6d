"""The Docker Compose deployment, checked without Docker: services, healthchecks, volumes, files, docs."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from tests.dags.conftest import REPO, load_dag_module, require_airflow

yaml = pytest.importorskip("yaml")

COMPOSE = REPO / "docker-compose.yml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
CELERY_SERVICES = {"redis", "airflow-worker", "minio", "lake-init"}
#: one-shot services: they run to completion, the others wait for them
ONE_SHOT_SERVICES = {"airflow-init", "lake-init"}
#: services that listen to a live network: never started by a plain `docker compose up`
OPT_IN_SERVICES = {"bluesky-stream": "bluesky"}
_VAR = re.compile(r"(?<!\$)\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """What docker compose makes of ${VAR} / ${VAR:-default} (and $$ escapes) with the given environment."""
    env = env or {}
    out = _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    return out.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_the_airflow_3_components_run_on_postgres(services):
    assert {"postgres", "airflow-init", *AIRFLOW_SERVICES, *CELERY_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert _command(services[name]) == command
        env = _env(services[name])
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:airflow@postgres/"
        )
        # the default, when .env does not choose another executor
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert services["postgres"]["image"].startswith("postgres:")


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            assert service["restart"] == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])


def test_airflow_services_wait_for_the_database_and_the_init(services):
    for name in [*AIRFLOW_SERVICES, "airflow-worker"]:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_init_migrates_the_database_creates_the_admin_and_a_pool_per_platform(services):
    from pipeline.platforms import main, platforms
    from pipeline.sources.base import REGISTRY

    script = _command(services["airflow-init"])
    assert "airflow db migrate" in script
    assert "airflow users create --role Admin" in script
    # the pools come from the platform declarations, never from a list written out here
    assert "python -m pipeline.platforms pools > /tmp/ripple-pools.json" in script
    assert "airflow pools import /tmp/ripple-pools.json" in script
    assert "$$(python -m pipeline.platforms connections)" in script
    assert "airflow pools set" not in script
    assert {p.name for p in platforms()} == {platform for _target, platform in REGISTRY.values()}
    assert main(["nosuch"]) == 2


def test_the_pools_file_has_one_pool_per_platform_with_its_slots(capsys):
    from pipeline.platforms import main
    from pipeline.sources.base import REGISTRY

    assert main(["pools"]) == 0
    pools = json.loads(capsys.readouterr().out)
    platforms = {platform for _target, platform in REGISTRY.values()}
    assert set(pools) == {f"ripple_{platform}" for platform in platforms}
    assert {name: pool["slots"] for name, pool in pools.items()} == {
        "ripple_bluesky": 1,
        "ripple_demo": 2,
        "ripple_mastodon": 1,
        "ripple_reddit": 1,
        "ripple_x": 1,
    }
    assert main(["connections"]) == 0
    assert capsys.readouterr().out.split() == [
        "bluesky_default",
        "mastodon_default",
        "reddit_default",
        "x_default",
    ]


def test_celery_is_an_opt_in_profile(services):
    for name, service in services.items():
        if name in CELERY_SERVICES:
            assert service.get("profiles") == ["celery"], name
        elif name in OPT_IN_SERVICES:
            assert service.get("profiles") == [OPT_IN_SERVICES[name]], name
        else:
            assert not service.get("profiles"), f"{name} would not start with a plain `docker compose up`"
    worker = services["airflow-worker"]
    assert _command(worker) == "celery worker"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert _env(worker)["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


def test_the_data_directory_is_a_named_volume_shared_by_every_airflow_service(compose, services):
    named = set(compose["volumes"])
    assert {"ripple-data", "postgres-db", "airflow-logs"} <= named
    for name in ["airflow-init", *AIRFLOW_SERVICES, "airflow-worker"]:
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts["/opt/ripple-data"] == "ripple-data", name
        assert mounts["/opt/airflow/logs"] == "airflow-logs", name
        if name != "airflow-worker":  # the single-machine default: the data directory is the local volume
            assert _env(services[name])["RIPPLE_DATA_DIR"] == "/opt/ripple-data", name
    assert services["postgres"]["volumes"][0].split(":")[0] == "postgres-db"
    # every named volume a service mounts is declared
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, source


def _dockerignore() -> list[str]:
    return [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            ignored = not negate
    return ignored


def test_every_file_the_deployment_references_exists(services):
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (context / dockerfile).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        for env_file in service.get("env_file", []):
            entry = env_file if isinstance(env_file, dict) else {"path": env_file}
            path = REPO / entry["path"]
            if entry.get("required", True):
                assert path.is_file(), f"{name} needs {path}"
            else:
                # an optional .env is made from the committed example
                assert (REPO / f"{entry['path']}.example").is_file(), name
    patterns = _dockerignore()
    for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY"):
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
                assert not _ignored(source, patterns), f".dockerignore hides {source} from the build"


def test_secrets_and_local_data_stay_out_of_the_image():
    patterns = _dockerignore()
    for path in (".env", "data/lake", ".venv/bin", ".git/config", "ripple.toml"):
        assert _ignored(path, patterns), path
    assert not _ignored(".env.example", patterns)


def _env_example() -> dict[str, str]:
    """Every VAR=value of .env.example, commented-out examples included."""
    found = {}
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            found[match.group(1)] = value
    return found


def test_env_example_documents_every_variable_the_compose_file_reads():
    text = COMPOSE.read_text(encoding="utf-8")
    compose_time = {m.group(1) for m in _VAR.finditer(text)}
    container_time = set(re.findall(r"\$\$\{(\w+):-", text))
    documented = _env_example()
    missing = sorted((compose_time | container_time) - set(documented))
    assert missing == [], f".env.example does not mention {missing}"
    for key in ("AIRFLOW_CONN_REDDIT_DEFAULT", "AIRFLOW_CONN_X_DEFAULT", "RIPPLE__RUN__SOURCES"):
        assert key in documented


def test_env_example_connections_are_connection_json():
    documented = _env_example()
    reddit = json.loads(documented["AIRFLOW_CONN_REDDIT_DEFAULT"])
    x = json.loads(documented["AIRFLOW_CONN_X_DEFAULT"])
    assert reddit["conn_type"] and x["conn_type"]
    assert {"login", "password"} <= set(reddit) and "user_agent" in reddit["extra"]
    assert x["password"]


@pytest.mark.airflow
def test_env_example_connections_reach_the_pipeline_as_client_arguments(ripple_env):
    require_airflow()
    from airflow.sdk import Connection

    from pipeline.orchestration import connection_credentials

    documented = _env_example()
    reddit = Connection.from_json(documented["AIRFLOW_CONN_REDDIT_DEFAULT"], conn_id="reddit_default")
    assert set(connection_credentials("reddit", reddit)) == {
        "client_id",
        "client_secret",
        "user_agent",
        "username",
        "password",
    }
    x = Connection.from_json(documented["AIRFLOW_CONN_X_DEFAULT"], conn_id="x_default")
    assert set(connection_credentials("x", x)) == {"bearer_token"}


@pytest.mark.airflow
def test_the_nightly_dag_uses_the_pools_compose_creates(services, ripple_env):
    require_airflow()
    from pipeline.platforms import pools_json

    nightly = load_dag_module("ripple_nightly")
    pools = json.loads(pools_json())
    for platform in nightly.PLATFORMS:
        assert platform.pool in pools and pools[platform.pool]["slots"] == platform.pool_slots >= 1


def test_deploy_docs_say_how_to_start_with_and_without_docker():
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needle in (
        "docker compose up -d",
        "cp .env.example .env",
        "--profile celery",
        "airflow standalone",
        "AIRFLOW_CONN_REDDIT_DEFAULT",
        "AIRFLOW_CONN_X_DEFAULT",
        "airflow pools import",
        "ripple_reddit",
        "ripple_x",
        "ripple_demo",
        "## The warehouse on an object store",
        "MinIO",
        "storage.googleapis.com",
        "AWS_ENDPOINT_URL",
        "ripple_lake",
    ):
        assert needle in text, needle


def test_operations_docs_cover_schedules_backfills_failures_and_logs():
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    for needle in (
        "0 2 * * *",
        "airflow backfill create --dag-id ripple_nightly",
        "ripple run --since",
        "airflow tasks clear",
        "state/runs.jsonl",
        "ripple status",
        "ripple_weekly_report",
    ):
        assert needle in text, needle


def test_the_bluesky_stream_runs_ripple_stream_next_to_airflow(services):
    stream = services["bluesky-stream"]
    assert stream["entrypoint"] == ["ripple"] and stream["command"] == ["stream", "bluesky"]
    assert stream["restart"] == "always"
    assert stream["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # the same data volume as the DAGs: the nightly build reads what the stream committed
    assert "ripple-data:/opt/ripple-data" in stream["volumes"]


def test_the_celery_profile_keeps_the_lake_on_minio(services):
    minio, init, worker = services["minio"], services["lake-init"], services["airflow-worker"]
    assert minio["image"].startswith("minio/minio:") and init["image"].startswith("minio/mc:")
    assert _command(minio).startswith("server /data")
    assert "minio-data:/data" in minio["volumes"]
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert worker["depends_on"]["lake-init"]["condition"] == "service_completed_successfully"
    # the init creates the very bucket the workers use, with the credentials MinIO was started with
    env, minio_env, init_env = _env(worker), _env(minio), _env(init)
    bucket = init_env["RIPPLE_LAKE_BUCKET"]
    assert env["RIPPLE_DATA_DIR"] == f"s3://{bucket}/data"
    script = _command(init)
    assert 'mc mb --ignore-existing "lake/$$RIPPLE_LAKE_BUCKET"' in script
    assert "http://minio:9000" in script and env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"] == init_env["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"] == init_env["MINIO_ROOT_PASSWORD"]
    # the build and the reader cache stay on the worker's local volume
    assert env["RIPPLE__WAREHOUSE__CACHE_DIR"].startswith("/opt/ripple-data/")
    # the console is reachable from this host only
    assert all(port.startswith("127.0.0.1:") for port in minio["ports"])


def test_the_celery_lake_settings_parse_as_ripple_settings(services, monkeypatch, tmp_path):
    from pipeline.config import load_settings

    env = _env(services["airflow-worker"])
    for key, value in env.items():
        if key.startswith("RIPPLE__"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("RIPPLE_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert str(settings.warehouse.cache_dir) == env["RIPPLE__WAREHOUSE__CACHE_DIR"]

"""Documentation that is tested: a command, a setting or a source that is not documented fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli import app, import_app
from pipeline.config import DEFAULTS
from pipeline.sources.base import REGISTRY

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
CONFIG_DOC = (REPO / "docs" / "configuration.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    head = README[: README.index("## Configuration")]
    assert "make run" in head and "make test" in head


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in app.registered_commands))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`ripple {command}" in README


@pytest.mark.parametrize("command", sorted(c.name or "" for c in import_app.registered_commands))
def test_every_import_is_in_the_readme(command: str) -> None:
    assert f"`ripple import {command}" in README


@pytest.mark.parametrize(("section", "key"), [(s, k) for s, table in DEFAULTS.items() for k in table])
def test_every_setting_is_documented(section: str, key: str) -> None:
    part = CONFIG_DOC.split(f"## `[{section}]`", 1)
    assert len(part) == 2, f"no section [{section}] in docs/configuration.md"
    body = part[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| `{key}` \|", body, re.M), f"{section}.{key} is not documented"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_source_is_linked_from_the_readme(name: str) -> None:
    assert name in README.split("docs/sources/", 1)[1]


ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
MODULES = sorted(
    str(path.relative_to(REPO))
    for path in (REPO / "pipeline").rglob("*.py")
    if not (path.name == "__init__.py" and not path.read_text().strip())  # an empty package marker
)


def test_the_architecture_page_is_linked_from_the_readme() -> None:
    assert "(docs/architecture.md)" in README


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_on_the_architecture_page(module: str) -> None:
    assert re.search(rf"^\| `{re.escape(module)}` \| \S", ARCHITECTURE, re.M), (
        f"{module}: no line in docs/architecture.md"
    )


@pytest.mark.parametrize("folder", ["staging", "intermediate", "marts", "tests", "report"])
def test_every_sql_folder_is_on_the_architecture_page(folder: str) -> None:
    assert (REPO / "sql" / folder).is_dir() and f"`sql/{folder}/`" in ARCHITECTURE

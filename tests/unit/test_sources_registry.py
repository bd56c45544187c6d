"""Adding a platform = a module, a registry entry, a staging model and a docs page. Every source has all four."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.platforms import platform_spec
from pipeline.sources.base import REGISTRY, Source, get_source

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_source_is_complete(name: str, tmp_path: Path) -> None:
    target, platform = REGISTRY[name]
    module_name, _, class_name = target.partition(":")
    assert module_name == f"pipeline.sources.{name}", "one module per source, named after it"
    cls = getattr(importlib.import_module(module_name), class_name)
    source = cls(load_settings(data_dir=tmp_path))
    assert isinstance(source, Source)
    assert source.name == name and source.platform == platform
    staging = platform_spec(platform).staging_model
    assert (REPO / "sql" / "staging" / f"{staging}.sql").is_file(), "staging model missing"
    doc = REPO / "docs" / "sources" / f"{name}.md"
    assert doc.is_file(), f"docs page {doc.relative_to(REPO)} missing"
    assert len(doc.read_text().split()) > 80, "the docs page says too little"


def test_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown source 'myspace' \(known: bluesky, bluesky_jetstream, demo, "
    ):
        get_source("myspace", load_settings(data_dir=tmp_path))

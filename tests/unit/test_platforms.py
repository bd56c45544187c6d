"""Platform declarations (pipeline/platforms.py): what the DAGs, the pools and the warehouse read."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.platforms import platform_names, platform_spec, platforms
from pipeline.sources.base import REGISTRY


def test_every_source_platform_is_declared_or_defaulted() -> None:
    assert set(platform_names()) == {platform for _target, platform in REGISTRY.values()}
    assert [p.name for p in platforms()] == sorted(platform_names())
    reddit = platform_spec("reddit")
    assert (reddit.pool, reddit.connection_id, reddit.staging_model) == (
        "ripple_reddit",
        "reddit_default",
        "stg_reddit_posts",
    )
    assert platform_spec("x").native_communities is False and reddit.native_communities is True


def test_an_undeclared_platform_gets_the_defaults() -> None:
    new = platform_spec("lemmy")
    assert (new.pool, new.pool_slots, new.connection_id, new.staging_model) == (
        "ripple_lemmy",
        1,
        "lemmy_default",
        "stg_lemmy_posts",
    )
    conn = SimpleNamespace(login="me", password="pw", host="lemmy.example", extra_dejson={"token": "t"})
    assert new.credentials(conn) == {"login": "me", "password": "pw", "host": "lemmy.example", "token": "t"}


def test_connection_fields_map_to_the_clients_keywords_and_extra_wins() -> None:
    conn = SimpleNamespace(
        login="id", password="secret", host=None, extra_dejson={"client_id": "other", "x": ""}
    )
    assert platform_spec("reddit").credentials(conn) == {"client_id": "other", "client_secret": "secret"}
    assert platform_spec("x").credentials(conn) == {"bearer_token": "secret", "client_id": "other"}

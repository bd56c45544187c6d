"""What the rest of the system needs to know about each platform, declared in one place.

A :class:`Platform` names its Airflow pool (and how many tasks may use the platform's API at once), the Airflow
connection that holds its credentials and how that connection's fields map to the client's keyword arguments,
its staging model, whether its communities are native (subreddits) or detected (the interaction graph), and the
defaults of its retry policy (:class:`pipeline.retry.RetryPolicy`). The DAGs, docker-compose's pool setup (and
its test) and the warehouse read it from here, so adding a platform never means editing a DAG.

Adding a platform: a source in :data:`pipeline.sources.base.REGISTRY` is enough to get the defaults (pool
``ripple_<name>`` with one slot, connection ``<name>_default`` with login/password/host, staging model
``stg_<name>_posts``, native communities); to change any of them, add one :func:`register` call below.

Importing this module is cheap (the DAG files import it at parse time): no Airflow, no data libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_GENERIC_FIELDS = {"login": "login", "password": "password", "host": "host"}


@dataclass(frozen=True)
class Platform:
    name: str
    #: tasks that may talk to this platform's API at the same time, across concurrent DAG runs
    pool_slots: int = 1
    pool_description: str = ""
    #: Airflow connection with the credentials; None = the platform needs none
    connection_id: str | None = None
    #: connection field (login, password, host, schema, port) -> keyword argument of the platform's client;
    #: the connection's extra (JSON) is added on top and wins
    credential_fields: Mapping[str, str] = field(default_factory=lambda: dict(_GENERIC_FIELDS))
    #: True when posts carry their community (subreddits); False when communities are detected (Leiden)
    native_communities: bool = True
    #: defaults of the platform's retry policy (RetryPolicy fields); ``[<platform>]`` settings override
    retry: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pool(self) -> str:
        return f"ripple_{self.name}"

    @property
    def staging_model(self) -> str:
        return f"stg_{self.name}_posts"

    def credentials(self, conn: Any) -> dict[str, Any]:
        """An Airflow connection as the plain keyword arguments the platform's client takes.

        Mapped fields first, then the connection's extra (which wins); empty values are dropped so that
        the client's own configuration fills them in.
        """
        base = {keyword: getattr(conn, attr, None) for attr, keyword in self.credential_fields.items()}
        merged = {**base, **dict(getattr(conn, "extra_dejson", None) or {})}
        return {key: value for key, value in merged.items() if value not in (None, "")}


_DECLARED: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    """Declare a platform (one call per platform; a later call replaces an earlier one)."""
    _DECLARED[platform.name] = platform
    return platform


register(
    Platform(
        "bluesky",
        pool_description="ripple: Bluesky AppView, one client at a time per account",
        # login = the account's handle, password = an app password (RIPPLE_BLUESKY_* when missing)
        connection_id="bluesky_default",
        native_communities=False,
    )
)
register(Platform("demo", pool_slots=2, pool_description="ripple: demo source (simulator, no API)"))
register(
    Platform(
        "mastodon",
        pool_description="ripple: Mastodon instances, one client at a time per token",
        # password = an access token (for the connection's host, or every instance); extra `tokens` by instance
        connection_id="mastodon_default",
        # communities are the authors' home instances by default ([mastodon] community = "instance")
        native_communities=True,
    )
)
register(
    Platform(
        "reddit",
        pool_description="ripple: Reddit API, one client at a time per account",
        connection_id="reddit_default",
        # extra holds the other PRAW settings (user_agent, username, password, refresh_token, oauth_url, ...)
        credential_fields={"login": "client_id", "password": "client_secret"},
        retry={"jitter": True},
    )
)
register(
    Platform(
        "x",
        pool_description="ripple: X API, one client at a time per app",
        connection_id="x_default",
        credential_fields={"password": "bearer_token"},
        native_communities=False,
        retry={"max_reset_wait": 16 * 60, "max_rate_limit_waits": 20},
    )
)


def _source_platforms() -> set[str]:
    from pipeline.sources.base import REGISTRY

    return {platform for _target, platform in REGISTRY.values()}


def platform_names() -> tuple[str, ...]:
    """Every platform a registered source ingests, sorted."""
    return tuple(sorted(_source_platforms()))


def platform_spec(name: str) -> Platform:
    """The declaration of ``name``, or the defaults for a platform nobody declared."""
    declared = _DECLARED.get(name)
    if declared is not None:
        return declared
    return Platform(name, pool_description=f"ripple: {name} API", connection_id=f"{name}_default")


def platforms() -> tuple[Platform, ...]:
    return tuple(platform_spec(name) for name in platform_names())


def detected_platforms(settings: Any) -> list[str]:
    """The platforms whose communities are detected (Leiden on the interaction graph, pipeline.communities).

    ``[communities] detect_platforms`` when it is set (an empty list turns detection off), else every platform
    declared with ``native_communities=False``; plus, either way, a platform declared with native communities
    whose own section overrides that with ``community = "detected"`` (``[mastodon] community = "detected"``).
    """
    names = platform_names()
    explicit = settings.communities.detect_platforms
    chosen = (
        list(explicit)
        if explicit is not None
        else [n for n in names if not platform_spec(n).native_communities]
    )
    for name in names:
        overridden = getattr(getattr(settings, name, None), "community", None) == "detected"
        if overridden and platform_spec(name).native_communities and name not in chosen:
            chosen.append(name)
    return chosen


def platform_of_source(source: str) -> str:
    from pipeline.sources.base import REGISTRY

    return REGISTRY[source][1]


def pools_json() -> str:
    """The Airflow pools, one per platform, as ``airflow pools import`` reads them."""
    import json

    pools = {
        p.pool: {"slots": p.pool_slots, "description": p.pool_description, "include_deferred": False}
        for p in platforms()
    }
    return json.dumps(pools, indent=1, sort_keys=True)


def main(argv: list[str]) -> int:
    """``python -m pipeline.platforms pools|connections``: what docker-compose's init sets up."""
    if argv == ["pools"]:
        print(pools_json())
    elif argv == ["connections"]:
        print("\n".join(p.connection_id for p in platforms() if p.connection_id))
    else:
        print("usage: python -m pipeline.platforms pools|connections")
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

"""Table and column comments of the tables the build creates in Python rather than from ``sql/``.

The SQL models carry their comments in their headers (``-- grain:``, ``-- column x:``); the configuration tables
``cfg_bots`` and ``cfg_detect_platforms``, the demo's planted truth and the community detection output are written by
Python, so their comments live here. Runs as a build hook after the marts (``pipeline.warehouse.default_hooks``);
a table that does not exist in this build (no demo source, no detected platform) is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.sqlfiles import comment_on

if TYPE_CHECKING:
    import duckdb

    from pipeline.config import Settings

_DETECTED_KEYS = {
    "platform": "platform whose communities are detected (cfg_detect_platforms)",
    "week_start": "Monday (UTC) of the ISO week of the interaction graph",
    "iso_week": "ISO week, 'YYYY-Www'",
}

#: table -> (table comment, {column: comment})
TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "cfg_bots": (
        "Grain: one row per (platform, configured bot). The accounts of membership.bots, pseudonymized like every "
        "author id: they never count as members or engagers.",
        {
            "platform": "platform the bot id applies to",
            "author_id": "the bot's author id as it appears in the items (pseudonymized when privacy.pseudonymize)",
            "author_name": "the configured bot name",
        },
    ),
    "cfg_detect_platforms": (
        "Grain: one row per platform whose communities are detected (Leiden on the weekly interaction graph): "
        "communities.detect_platforms when set, else the platforms declared without native communities, plus "
        'those whose section says community = "detected".',
        {"platform": "platform whose communities are detected"},
    ),
    "demo_planted_effects": (
        "Grain: one row per planted affect effect of the demo source. The truth the spread explanation should "
        "recover (docs/sources/demo.md).",
        {
            "platform": "the demo platform",
            "feature": "affect feature of fct_affect whose standardized value drives escaping",
            "log_odds_per_sd": "planted change of the log-odds of escaping per SD of the feature",
            "odds_ratio_per_sd": "exp(log_odds_per_sd)",
            "feature_mean": "mean of the feature over the posts the simulator draws (the standardization)",
            "feature_sd": "standard deviation of the feature over those posts",
            "intercept": "planted intercept of the escape log-odds",
            "seed": "demo.seed of the simulated world",
        },
    ),
    "demo_planted_overlap": (
        "Grain: one row per community pair whose members overlap on purpose in the demo source. The truth "
        "fct_community_overlap should find (docs/sources/demo.md).",
        {
            "platform": "the demo platform",
            "community_a": "first community of the pair",
            "community_b": "second community of the pair",
            "co_membership_probability": "probability that a member whose home is one of them is also in the other",
            "strength": "strong, medium or weak",
        },
    ),
    "int_detected_communities": (
        "Grain: one row per (platform, ISO week, user) assigned to a detected community. Leiden communities of "
        'the week\'s interaction graph (docs/metrics.md, "Detected communities"); int_posts reads them.',
        {
            **_DETECTED_KEYS,
            "author_id": "the user (pseudonymous)",
            "community": "detected community label, 'leiden-<n>', stable across weeks by Jaccard matching",
        },
    ),
    "int_detected_partitions": (
        "Grain: one row per (platform, ISO week) of community detection. The Leiden run's parameters and "
        "quality; published as dim_detected_partitions.",
        {
            **_DETECTED_KEYS,
            "algorithm": "algorithm, implementation and quality function (leiden/igraph-modularity)",
            "resolution": "communities.resolution",
            "seed": "communities.seed",
            "min_size": "communities.min_size: smaller communities are dropped",
            "n_iterations": "Leiden iterations (-1: until stable)",
            "users": "vertices of the week's interaction graph",
            "edges": "distinct user pairs that interacted",
            "total_weight": "interactions (edge weights summed)",
            "communities": "kept communities (at least min_size users)",
            "assigned_users": "users in kept communities",
            "modularity": "Newman modularity of the full partition, weighted, resolution 1",
            "quality": "the value Leiden optimized (modularity at the configured resolution, unnormalized)",
            "graph_digest": "SHA-256 of the week's edges: a later build reuses the partition while it is unchanged",
        },
    ),
}


def comment_tables(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> dict[str, Any]:
    """COMMENT ON the Python-made tables present in this build; returns the tables commented."""
    present = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    done = []
    for table, (comment, columns) in TABLES.items():
        if table not in present:
            continue
        comment_on(con, table, comment, columns)
        done.append(table)
    return {"commented": done}

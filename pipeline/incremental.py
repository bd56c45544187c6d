"""Incremental builds: recompute what the new lake files can change, carry everything else over.

A build records what it was built from (table ``ripple_build_inputs``: every lake file with its size and version,
and a fingerprint of the settings, ``sql/`` and ripple's code in ``ripple_build``). The next build compares: when the
fingerprint is the same and every recorded file is still there unchanged, only files were added, and the build
starts from a copy of the published warehouse and recomputes, model by model in the usual order:

* ``stg_posts`` and ``stg_affect``: the items and scores of the new files, ranked against the current row of the
  same id (the rule of the model, applied to fewer rows);
* per-item models (``stg_<platform>_posts``, ``int_posts``, ``fct_affect``): the rows of changed items;
* the cascade models: every cascade a changed item belongs to, belonged to or now joins (its parent's, an orphan's
  that finds its parent), all their items, through the same SQL;
* ``int_community_activity`` from each changed author's earliest change on; ``int_membership`` for the weeks whose
  window holds a changed day, and ``fct_community_overlap`` for those weeks (and the weeks the new coverage end
  completes); ``fct_item_engagers``, ``fct_item_spread`` and ``int_spread_features`` for the roots
  whose cascade changed or where an author with changed activity engaged after the change;
* every other model and hook whole (they read the marts above, which are small, or are global like the spread
  explanation).

A model recomputed whole makes its dependents recompute whole too. Assertions headed ``-- incremental: <model> by
<columns>`` check only the groups of ``<model>`` the build wrote into (:meth:`IncrementalBuild.restricted_rows`).
The result is the same as ``ripple build --full`` on the same lake, table for table and row for row
(tests/unit/test_incremental.py runs a sequence of nights and compares). A changed setting, model or ripple version,
a removed or rewritten lake file (``ripple purge``, a re-run of a window, a new scorer version) or a missing record
makes the build full, and says why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipeline.config import Settings
from pipeline.files import copy_file
from pipeline.sqlfiles import named_query, sql_identifier

log = logging.getLogger(__name__)

INPUTS_TABLE = "ripple_build_inputs"
# in-memory databases attached to the build's connection (nothing of them is written to the warehouse file)
WORK = "ripple_delta"  # change sets of this build
RERUN = "ripple_rerun"  # restricted inputs and output of one model's recomputation


@dataclass(frozen=True)
class LakeFile:
    kind: str  # posts | affect
    path: str
    size: int
    version: str


def lake_files(settings: Settings) -> list[LakeFile]:
    """Every committed file of the posts and affect lake tables, with what identifies its content (local disk or
    object store: :func:`pipeline.lake.committed_files`)."""
    from pipeline.lake import committed_files

    return [
        LakeFile(kind, f.path, f.size, str(f.version))
        for kind in ("posts", "affect")
        for f in committed_files(settings, kind)
    ]


def build_fingerprint(settings: Settings, sql_root: Path) -> str:
    """What a warehouse is built with, apart from the lake: settings, the SQL models and ripple's code."""
    # not the [warehouse] section: threads, memory and where versions are kept change how a build runs, not what
    # it holds
    content = settings.model_copy(update={"warehouse": type(settings.warehouse)()})
    digest = hashlib.sha256(repr(content).encode())
    code = sorted(Path(__file__).parent.rglob("*.py"))
    for path in [*sorted(sql_root.rglob("*.sql")), *code]:
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def record_inputs(con: duckdb.DuckDBPyConnection, fingerprint: str, files: list[LakeFile]) -> None:
    """Stamp the warehouse with what it was built from (read by the next build)."""
    con.execute(
        f"create or replace table {INPUTS_TABLE} (kind varchar, path varchar, size bigint, version varchar)"
    )
    if files:
        con.executemany(
            f"insert into {INPUTS_TABLE} values (?, ?, ?, ?)",
            [(f.kind, f.path, f.size, f.version) for f in files],
        )
    con.execute(
        f"alter table ripple_build add column if not exists fingerprint varchar default '{fingerprint}'"
    )
    con.execute(
        f"comment on table {INPUTS_TABLE} is 'Grain: one row per lake file. The lake files this warehouse was "
        "built from (the next build recomputes what new files change).'"
    )


@dataclass
class Decision:
    incremental: bool
    reason: str
    added: dict[str, list[str]] = field(default_factory=dict)


def decide(settings: Settings, fingerprint: str, files: list[LakeFile]) -> Decision:
    """Whether the next build can start from the published warehouse, and why not."""
    published = settings.warehouse_path
    if not published.exists():
        return Decision(False, "no published warehouse yet")
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error as exc:
        return Decision(False, f"the published warehouse cannot be read ({str(exc).splitlines()[0]})")
    try:
        tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
        if INPUTS_TABLE not in tables:
            return Decision(
                False, "the published warehouse does not record its inputs (built by an older ripple)"
            )
        recorded = con.execute("select fingerprint from ripple_build").fetchone()
        previous = {
            row[1]: LakeFile(*row)
            for row in con.execute(f"select kind, path, size, version from {INPUTS_TABLE}").fetchall()
        }
    finally:
        con.close()
    if not recorded or recorded[0] != fingerprint:
        return Decision(False, "settings, sql/ models or ripple itself changed since the last build")
    current = {f.path: f for f in files}
    changed = [path for path, f in previous.items() if current.get(path) != f]
    if changed:
        return Decision(
            False,
            f"{len(changed)} lake file(s) were rewritten or removed since the last build "
            f"(e.g. {Path(changed[0]).name}: a purge, a re-run of a window or a new scorer)",
        )
    added: dict[str, list[str]] = {"posts": [], "affect": []}
    for f in files:
        if f.path not in previous:
            added[f.kind].append(f.path)
    return Decision(
        True, f"{len(added['posts'])} new posts file(s), {len(added['affect'])} new affect file(s)", added
    )


def copy_published(settings: Settings, candidate: Path) -> None:
    """The starting point of an incremental build: a copy of the published warehouse (readers keep theirs); a clone
    that shares its blocks with the published file where the file system can (``files.copy_file``)."""
    copy_file(settings.warehouse_path, candidate)


# ------------------------------------------------------------------------------------------------ the build
Step = Callable[["IncrementalBuild", Any], None]

# small models recomputed whole each time; their dependents stay incremental while these columns do not change
COMPARED_COLUMNS = {"dim_platform_coverage": "platform, coverage_start", "stg_incomplete_fetches": "*"}
CASCADE_MODELS = ("int_cascade_links", "int_cascade_nodes", "int_cascade_subtrees", "int_cascade_quality",
                  "fct_cascades", "fct_cascade_quality", "fct_cascade_communities")  # fmt: skip
NODE_KEYS = {"int_cascade_links": "node_key", "int_cascade_nodes": "node_key", "int_cascade_subtrees": "node_key",
             "int_cascade_quality": "md5_number_lower(post_id)", "fct_cascade_quality": "md5_number_lower(post_id)"}  # fmt: skip


class IncrementalBuild:
    """Brings a copy of the previous warehouse up to date with the new lake files, model by model."""

    def __init__(self, con: duckdb.DuckDBPyConnection, result: Any):
        self.con = con
        self.result = result
        self.whole: set[str] = set()  # models recomputed whole whose content changed: dependents follow
        self.recreated: set[str] = set()  # models recomputed whole (their tables lost their comments)
        self.detected_changed = False
        self.partial: set[str] = set()  # models recomputed in part (inserted rows: WORK.new_<model>)
        self.strategies: dict[str, Step] = {
            "stg_posts": IncrementalBuild._stg_posts,
            "stg_affect": IncrementalBuild._stg_affect,
            "int_interaction_edges": IncrementalBuild._interaction_edges,
            "int_posts": IncrementalBuild._int_posts,
            "fct_affect": IncrementalBuild._fct_affect,
            "int_community_activity": IncrementalBuild._activity,
            "int_membership": IncrementalBuild._membership,
            "int_weekly_terms": IncrementalBuild._weekly_terms,
            "int_community_size": IncrementalBuild._community_size,
            "fct_community_overlap": IncrementalBuild._overlap,
            "int_spread_features": IncrementalBuild._spread_features,
            "fct_item_engagers": IncrementalBuild._spread_model,
            "fct_item_spread": IncrementalBuild._spread_model,
            **{name: IncrementalBuild._cascade_model for name in CASCADE_MODELS},
        }
        self.scratch(WORK)
        # the warehouse's own name: a view in another database (the restricted rows of an assertion) names it
        self.database = sql_identifier(con.execute("select current_database()").fetchall()[0][0])

    # --------------------------------------------------------------------------------------------- helpers
    def scratch(self, name: str) -> None:
        """A fresh in-memory database ``name`` on the build's connection."""
        self.con.execute(f"detach database if exists {name}")
        self.con.execute(f"attach ':memory:' as {name}")

    def sql(self, name: str) -> str:
        return named_query("incremental", name)

    def table(self, name: str, query: str) -> None:
        started = time.perf_counter()
        self.con.execute(f"create or replace table {WORK}.{name} as {query}")
        if log.isEnabledFor(logging.DEBUG):
            rows = self.con.execute(f"select count(*) from {WORK}.{name}").fetchall()[0][0]
            log.debug("change set %s: %d rows in %.2fs", name, rows, time.perf_counter() - started)

    def root_ids(self, name: str, keys: str) -> None:
        """The post ids of a set of root keys (``md5_number_lower(post_id)``): tables are filtered on ``root_id``
        itself, not on a hash computed for each of their rows (0.3 s instead of 4.8 s on 8M engager rows)."""
        self.table(name, f"select post_id as root_id from main.int_posts where node_key in ({keys})")

    def rerun(
        self, model: Any, inputs: dict[str, str], delete: str | list[str], keep: str | list[str] = ""
    ) -> None:
        """Recompute ``model`` with its own SQL on restricted ``inputs`` (tables that shadow the full ones), then
        ``delete from main.<model> <delete>`` (each clause of a list) and insert the recomputed rows
        ``from <result> as new <keep>`` (the union of a list's clauses)."""
        con = self.con
        self.scratch(RERUN)
        for name, query in inputs.items():
            started = time.perf_counter()
            con.execute(f"create table {RERUN}.{name} as {query}")  # tables: the planner knows their sizes
            if log.isEnabledFor(logging.DEBUG):
                rows = con.execute(f"select count(*) from {RERUN}.{name}").fetchall()[0][0]
                log.debug(
                    "  %s input %s: %d rows in %.2fs", model.name, name, rows, time.perf_counter() - started
                )
        con.execute(f"set search_path = '{RERUN},main'")
        started = time.perf_counter()
        try:
            con.execute(f"create table {RERUN}.{model.name} as\n{model.sql}")
        finally:
            con.execute("reset search_path")
        log.debug("%s: recomputed in %.2fs", model.name, time.perf_counter() - started)
        started = time.perf_counter()
        for clause in [delete] if isinstance(delete, str) else delete:
            con.execute(f"delete from main.{model.name} {clause}")
        log.debug("%s: old rows deleted in %.2fs", model.name, time.perf_counter() - started)
        started = time.perf_counter()
        picked = " union ".join(
            f"select new.* from {RERUN}.{model.name} as new {clause}"
            for clause in ([keep] if isinstance(keep, str) else keep)
        )
        con.execute(f"insert into main.{model.name} by name {picked}")
        # the recomputed rows, for the restricted inputs of the models that read this one
        con.execute(f"create or replace table {WORK}.new_{model.name} as {picked}")
        con.execute(f"detach {RERUN}")
        log.debug("%s: new rows inserted in %.2fs", model.name, time.perf_counter() - started)
        self.partial.add(model.name)

    def whole_model(self, model: Any) -> None:
        """Recompute a model whole; its dependents follow unless its (compared) content is unchanged."""
        con = self.con
        columns = COMPARED_COLUMNS.get(model.name)
        if columns:
            self.table("before", f"select {columns} from main.{model.name}")
        con.execute(f"create or replace table main.{model.name} as\n{model.sql}")
        self.recreated.add(model.name)
        if columns:
            changed = con.execute(
                f"select exists (select {columns} from main.{model.name} except all select * from {WORK}.before) "
                f"or exists (select * from {WORK}.before except all select {columns} from main.{model.name})"
            ).fetchone()
            if not (changed and changed[0]):
                return
        self.whole.add(model.name)

    # --------------------------------------------------------------------------------------------- staging
    def _stg_posts(self, model: Any) -> None:
        self.table("changed_posts", "select distinct post_id from main.src_posts_new")
        # the current winner of a changed id beats every older fetch, so it stands in for all of them
        self.rerun(
            model,
            {
                "src_posts": "select * from main.src_posts_new union all by name "
                f"select * from main.stg_posts semi join {WORK}.changed_posts using (post_id)"
            },
            f"where post_id in (select post_id from {WORK}.changed_posts)",
        )

    def _stg_affect(self, model: Any) -> None:
        counts = self.con.execute(
            "select (select count(*) from main.src_affect_new), (select count(*) from main.stg_affect), "
            "(select count(*) from main.src_affect_new where scorer_version not in "
            "(select scorer_version from main.stg_affect))"
        ).fetchone()
        assert counts is not None
        new, current, other_version = counts
        if new and (current == 0 or other_version):
            self.whole_model(model)  # a new scorer version replaces every score
            return
        self.table("changed_affect", "select distinct post_id from main.src_affect_new")
        self.rerun(
            model,
            {
                "src_affect": "select * from main.src_affect_new union all by name "
                f"select * from main.stg_affect semi join {WORK}.changed_affect using (post_id)"
            },
            f"where post_id in (select post_id from {WORK}.changed_affect)",
        )

    def _platform_posts(self, model: Any) -> None:
        """stg_<platform>_posts: one row per item of stg_posts."""
        self.rerun(
            model,
            {"stg_posts": f"select * from {WORK}.new_stg_posts"},
            f"where post_id in (select post_id from {WORK}.changed_posts)",
        )

    def _interaction_edges(self, model: Any) -> None:
        touched = self.con.execute(
            f"select exists (select 1 from main.stg_posts semi join {WORK}.changed_posts using (post_id) "
            "where platform in (select platform from main.cfg_detect_platforms))"
        ).fetchone()
        if touched and touched[0]:
            self.table(
                "old_detected",
                "select platform, week_start, author_id, community from main.int_detected_communities",
            )
            self.con.execute(f"create or replace table main.{model.name} as\n{model.sql}")
            self.recreated.add(model.name)
            self.detected_changed = True

    def detected(self) -> None:
        """After community detection ran again: the (platform, week, author) whose community changed."""
        self.table(
            "changed_detected",
            "(select platform, week_start, author_id, community from main.int_detected_communities "
            f"except select * from {WORK}.old_detected) union (select * from {WORK}.old_detected except "
            "select platform, week_start, author_id, community from main.int_detected_communities)",
        )

    # --------------------------------------------------------------------------------------------- items
    def _int_posts(self, model: Any) -> None:
        self.table("old_platform_weeks", self.sql("platform_weeks"))
        changed = f"select post_id from {WORK}.changed_posts"
        if self.detected_changed:
            changed += (
                f" union select p.post_id from main.int_posts as p semi join {WORK}.changed_detected as d"
                " on d.platform = p.platform and d.author_id = p.author_id and d.week_start = p.week_start"
            )
        self.table("changed_items", changed)
        self.table(
            "old_versions",
            f"select *, 'old' as version from main.int_posts semi join {WORK}.changed_items using (post_id)",
        )
        self.rerun(
            model,
            {"stg_posts": self._changed_stg_posts()},
            f"where post_id in (select post_id from {WORK}.changed_items)",
        )
        self.table(
            "changed_versions",
            f"select * from {WORK}.old_versions union all by name "
            f"select *, 'new' as version from {WORK}.new_int_posts",
        )
        self.table("changed_flags", self.sql("changed_flags"))
        for aspect in ("activity", "text"):
            self.table(
                f"{aspect}_versions",
                f"select v.* from {WORK}.changed_versions as v semi join {WORK}.changed_flags as f "
                f"on f.post_id = v.post_id and f.{aspect}",
            )
        self.table(
            "changed_nodes",
            f"select distinct md5_number_lower(post_id) as node_key from {WORK}.changed_items",
        )
        self.table("new_platform_weeks", self.sql("platform_weeks"))

    def _changed_stg_posts(self) -> str:
        """stg_posts rows of the changed items: the recomputed ones, plus those whose detected community moved."""
        query = f"select * from {WORK}.new_stg_posts"
        if self.detected_changed:
            query += (
                f" union all select * from main.stg_posts semi join {WORK}.changed_items using (post_id) "
                f"anti join {WORK}.changed_posts using (post_id)"
            )
        return query

    def _fct_affect(self, model: Any) -> None:
        self.table(
            "changed_affect_items",
            f"select post_id from {WORK}.changed_posts union select post_id from {WORK}.changed_affect",
        )
        self.rerun(
            model,
            {
                "stg_affect": f"select * from main.stg_affect semi join {WORK}.changed_affect_items using (post_id)",
                # items whose scores alone changed are the only ones read from the whole table
                "stg_posts": f"select * from {WORK}.new_stg_posts union all select * from main.stg_posts "
                f"semi join {WORK}.changed_affect using (post_id) anti join {WORK}.changed_posts using (post_id)",
            },
            f"where post_id in (select post_id from {WORK}.changed_affect_items)",
        )

    # --------------------------------------------------------------------------------------------- membership
    def _activity(self, model: Any) -> None:
        self.table("activity_triples", self.sql("activity_triples"))
        self.table("activity_authors", self.sql("activity_authors"))
        match = (
            "t.platform = {0}.platform and t.community = {0}.community and t.author_id = {0}.author_id "
            "and {0}.created_at >= t.changed_from"
        )
        self.rerun(
            model,
            {"int_posts": self.sql("activity_inputs")},
            f"as old using {WORK}.activity_triples as t where {match.format('old')}",
            keep=f"semi join {WORK}.activity_triples as t on {match.format('new')}",
        )

    def _membership(self, model: Any) -> None:
        self.table("membership_weeks", self.sql("membership_weeks"))
        self.table("membership_keys", self.sql("membership_keys"))
        weeks = "w.platform = {0}.platform and w.week_start = {0}.week_start"
        keys = (
            "k.platform = {0}.platform and k.week_start = {0}.week_start and k.community = {0}.community "
            "and k.author_id = {0}.author_id"
        )
        self.rerun(
            model,
            {"int_community_activity": self.sql("membership_inputs")},
            [
                f"as old using {WORK}.membership_weeks as w where {weeks.format('old')}",
                f"as old using {WORK}.membership_keys as k where {keys.format('old')}",
            ],
            keep=[
                f"semi join {WORK}.membership_weeks as w on {weeks.format('new')}",
                f"semi join {WORK}.membership_keys as k on {keys.format('new')}",
            ],
        )

    def by_weeks(self, model: Any, weeks: str, source: str) -> None:
        """Recompute the (platform, week)s of the change set ``weeks`` (its query in sql/incremental/) from the rows
        of the model ``source`` in those weeks."""
        self.table(weeks, self.sql(weeks))
        on = "w.platform = {0}.platform and w.week_start = {0}.week_start"
        self.rerun(
            model,
            {source: f"select * from main.{source} as s semi join {WORK}.{weeks} as w on {on.format('s')}"},
            f"as old using {WORK}.{weeks} as w where {on.format('old')}",
        )

    def _weekly_terms(self, model: Any) -> None:
        self.by_weeks(model, "term_weeks", "int_posts")

    def _community_size(self, model: Any) -> None:
        self.table("size_weeks", self.sql("size_weeks"))
        on = "w.platform = {0}.platform and w.community = {0}.community and w.week_start = {0}.week_start"
        self.rerun(
            model,
            {"int_posts": self.sql("size_inputs")},
            f"as old using {WORK}.size_weeks as w where {on.format('old')}",
            keep=f"semi join {WORK}.size_weeks as w on {on.format('new')}",
        )

    def _overlap(self, model: Any) -> None:
        self.by_weeks(model, "overlap_weeks", "int_membership")

    def _spread_features(self, model: Any) -> None:
        self.table(
            "changed_authors",
            f"select author_id, min(created_at) as changed_from from {WORK}.activity_versions "
            "where author_id is not null group by author_id",
        )
        self.table("feature_roots", self.sql("feature_roots"))
        self.root_ids("feature_root_ids", f"select root_key from {WORK}.feature_roots")
        roots = f"select root_id from {WORK}.feature_root_ids"
        self.rerun(
            model,
            {
                "fct_item_spread": f"select * from main.fct_item_spread where root_id in ({roots})",
                "int_posts": self.sql("feature_inputs"),
            },
            f"where root_id in ({roots})",
        )

    # --------------------------------------------------------------------------------------------- cascades
    def _cascade_model(self, model: Any) -> None:
        if model.name == "int_cascade_links":
            self.table("cascade_seed", self.sql("cascade_seed"))
            if self.touches_parent_loop():
                self.whole_model(model)  # the cascade models after it follow
                return
            self.table("cascade_nodes", self.sql("cascade_nodes"))
            self.table(
                "cascade_posts",
                f"select * from main.int_posts where node_key in (select node_key from {WORK}.cascade_nodes)",
            )
            self.table("cascade_ids", f"select post_id as root_id from {WORK}.cascade_posts")
        nodes = f"select node_key from {WORK}.cascade_nodes"
        # every cascade model recomputed before this one left exactly the rows of these cascades in new_<model>
        inputs = {"int_posts": f"select * from {WORK}.cascade_posts"}
        for dep in CASCADE_MODELS:
            if dep in model.deps:
                inputs[dep] = f"select * from {WORK}.new_{dep}"
        key = NODE_KEYS.get(model.name)
        where = (
            f"where {key} in ({nodes})"
            if key
            else f"where root_id in (select root_id from {WORK}.cascade_ids)"
        )
        self.rerun(model, {k: v for k, v in inputs.items() if k in model.deps}, where)

    def touches_parent_loop(self) -> bool:
        """Whether a change touches an item on (or below) a parent loop: such items are in no cascade, so the
        cascades of a change do not hold everything that decides where they end up."""
        found = self.con.execute(
            "select exists (select 1 from main.int_cascade_quality where problem = 'parent_cycle' "
            f"and md5_number_lower(post_id) in (select node_key from {WORK}.cascade_seed))"
        ).fetchone()
        return bool(found and found[0])

    def _spread_model(self, model: Any) -> None:
        keys = f"select root_key from {WORK}.spread_roots"
        roots = f"select root_id from {WORK}.spread_root_ids"
        if model.name == "fct_item_engagers":
            self.table("spread_roots", self.sql("spread_roots"))
            self.root_ids("spread_root_ids", keys)
            self.table("spread_nodes", f"select * from main.int_cascade_nodes where root_key in ({keys})")
            self.table(
                "spread_posts",
                f"select * from main.int_posts where node_key in (select node_key from {WORK}.spread_nodes)",
            )
        inputs = {
            "fct_cascades": f"select * from main.fct_cascades where root_id in ({roots})",
            "int_cascade_nodes": f"select * from {WORK}.spread_nodes",
            "int_posts": f"select * from {WORK}.spread_posts",
            "fct_item_engagers": f"select * from {WORK}.new_fct_item_engagers",
        }
        self.rerun(
            model,
            {k: v for k, v in inputs.items() if k in model.deps},
            f"where root_id in ({roots})",
        )

    # --------------------------------------------------------------------------------------------- driver
    def model(self, model: Any) -> None:
        started = time.perf_counter()
        strategy = self.strategies.get(model.name)
        if strategy is None and model.name.startswith("stg_") and model.deps == {"stg_posts"}:
            strategy = IncrementalBuild._platform_posts
        if strategy is None or model.deps & self.whole:
            self.whole_model(model)
        else:
            strategy(self, model)
        self.result.seconds[model.name] = time.perf_counter() - started
        self.result.tables[model.name] = self.con.execute(
            f"select count(*) from main.{model.name}"
        ).fetchall()[0][0]

    def restricted_rows(self, model: str, columns: str) -> str | None:
        """For an assertion over ``model`` by ``columns`` (:func:`pipeline.warehouse.run_assertions`): the rows of the
        groups this build inserted into, when it recomputed the model in part; None (the whole table) otherwise."""
        if model not in self.partial:  # whole or untouched
            return None
        return (
            f"select * from {self.database}.main.{model} semi join "
            f"(select distinct {columns} from {WORK}.new_{model}) using ({columns})"
        )

    def hook_needed(self, hook: Any) -> bool:
        """Community detection runs again only when the interaction graph was rebuilt."""
        return hook.name != "detect_communities" or self.detected_changed

    def finish(self) -> None:
        self.con.execute(f"detach database if exists {WORK}")
        self.con.execute(f"detach database if exists {RERUN}")

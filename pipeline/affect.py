"""Incremental affect scoring of the lake: ``ripple affect`` (``score_lake``) and ``ripple affect --rescore``.

The scores themselves come from ``pipeline.scoring`` (``Scorer``). This module decides which posts need a score
(the latest fetch of each post, ``sql/lake/latest_posts.sql``, whose current text has no score of the current
scorer version yet), copies the score of a text already scored for another post, scores the rest in worker
processes and writes ``<lake>/affect/scorer=<version>/<run>-<n>.parquet`` files (atomic writes).

A run considers only the posts files no earlier run of the same scorer version has considered: the record
``state/affect_considered.json`` lists the posts files (with their versions) and the affect files of the last run
without failures. When a file it lists was changed or removed, or the scorer version changed, the run considers
every post of the lake again (docs/affect.md, "What a run considers").
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import logging
import multiprocessing as mp
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from pipeline.errors import RippleError
from pipeline.scoring import (  # noqa: F401  (re-exported: the names callers of pipeline.affect use)
    AFFECT_COLUMNS,
    EMOTION_COLUMNS,
    EMOTIONS,
    FLOAT_COLUMNS,
    HIGH_AROUSAL,
    NRC_COLUMNS,
    SCORER_VERSION,
    Scorer,
    score_direct,
    scorer_version,
    text_for_scoring,
    text_for_scoring_sql,
    text_hash,
    tokenize,
)
from pipeline.sqlfiles import lake_query

if TYPE_CHECKING:
    import duckdb

    from pipeline.commits import LakeFile
    from pipeline.config import Settings

log = logging.getLogger(__name__)

AFFECT_ARROW_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("scorer_version", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
        *[pa.field(c, pa.float64()) for c in FLOAT_COLUMNS],
        pa.field("n_tokens", pa.int64(), nullable=False),
    ]
)

Progress = Callable[[int, int], None]


def affect_dir(settings: Settings) -> Path:
    return settings.lake_dir / "affect"


def affect_glob(settings: Settings) -> str:
    """Glob of every affect file (all scorer versions), for ``read_parquet(..., hive_partitioning=true)``."""
    return str(affect_dir(settings) / "scorer=*" / "*.parquet")


def has_affect(settings: Settings) -> bool:
    if settings.lake_remote:
        from pipeline.lake import committed_files

        return bool(committed_files(settings, "affect"))
    return any(affect_dir(settings).glob("scorer=*/*.parquet"))


# ----------------------------------------------------------------------------------------------------
# affect files


def _as_arrays(columns: dict[str, Any]) -> dict[str, np.ndarray]:
    return {c: np.asarray(v, dtype=np.int64 if c == "n_tokens" else np.float64) for c, v in columns.items()}


def _columns_to_table(
    post_ids: Sequence[str],
    hashes: Sequence[str],
    version: str,
    scored_at: datetime,
    columns: dict[str, np.ndarray],
) -> pa.Table:
    n = len(post_ids)
    arrays: list[pa.Array] = [
        pa.array(post_ids, pa.string()),
        pa.array(hashes, pa.string()),
        pa.array([version] * n, pa.string()),
        pa.array([scored_at] * n, AFFECT_ARROW_SCHEMA.field("scored_at").type),
    ]
    for col in AFFECT_COLUMNS:
        field = AFFECT_ARROW_SCHEMA.field(col)
        # NaN (emotion scoring off) is stored as NULL: "not computed", and SQL aggregates skip it
        arrays.append(pa.array(columns[col], field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=AFFECT_ARROW_SCHEMA)


def _write_table(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    from pipeline.files import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


# ----------------------------------------------------------------------------------------------------
# worker side

_worker_scorer: Scorer | None = None


def _init_worker(emotions: bool) -> None:
    global _worker_scorer
    _worker_scorer = Scorer(emotions=emotions)


def _score_batch(payload: dict[str, Any], scorer: Scorer | None = None) -> dict[str, int]:
    """Score the unique texts of one batch and write one affect file with a row per post (worker side)."""
    scorer = scorer or _worker_scorer
    if scorer is None:
        scorer = Scorer(emotions=payload["emotions"])
    cols: dict[str, list[Any]] = {c: [] for c in AFFECT_COLUMNS}
    row_ids: list[str] = []
    row_hashes: list[str] = []
    failed = texts_ok = 0
    texts = zip(payload["texts"], payload["hashes"], payload["post_ids"], strict=True)
    for i, (text, h, ids) in enumerate(texts):
        try:
            row = scorer.score(text)
        except Exception:  # noqa: BLE001 - one bad text must not lose the batch; it is retried next run
            log.exception("affect scoring failed for text %s (posts %s)", h, ids[:3])
            failed += len(ids)
            continue
        texts_ok += not (i == 0 and payload.get("continues"))  # counted in the batch it began in
        for pid in ids:
            row_ids.append(pid)
            row_hashes.append(h)
            for c in AFFECT_COLUMNS:
                cols[c].append(row[c])
    if row_ids:
        table = _columns_to_table(
            row_ids, row_hashes, payload["version"], payload["scored_at"], _as_arrays(cols)
        )
        _write_table(table, Path(payload["path"]))
    return {
        "scored": len(row_ids),
        "texts_scored": texts_ok,
        "failed": failed,
        "files_written": int(bool(row_ids)),
    }


# ----------------------------------------------------------------------------------------------------
# one scoring run


def _arrow_reader(con: Any, query: str, params: dict[str, Any] | None, batch_size: int) -> Any:
    """Stream a query's rows as Arrow record batches (the method name differs across DuckDB versions)."""
    rel = con.sql(query, params=params)
    for name in ("to_arrow_reader", "fetch_arrow_reader", "fetch_record_batch"):
        method = getattr(rel, name, None)
        if method is not None:
            return method(batch_size)
    raise RuntimeError("this DuckDB version cannot stream Arrow record batches")


def _latest_posts_query(name: str = "latest_posts") -> str:
    """Post id, title, text and whether it is gone upstream, of the latest fetch of every post (sql/lake/<name>)."""
    gone = "coalesce(is_deleted, false) or coalesce(is_removed, false)"
    return f"select post_id, title, text, {gone} as is_gone from ({lake_query(name)})"


def _new_result(settings: Settings, version: str) -> dict[str, Any]:
    counts = ("candidates", "scored", "texts_scored", "reused", "skipped_already_scored", "skipped_no_text")
    more = (
        "skipped_deleted",
        "failed",
        "files_written",
        "files_removed",
        "posts_files",
        "posts_files_considered",
    )
    return {
        "enabled": settings.affect.enabled,
        "scorer_version": version,
        **dict.fromkeys(counts + more, 0),
        "whole_lake": False,  # True, with the reason, when the run read every post of the lake
        "whole_lake_reason": "",
        "seconds": 0.0,
    }


# ----------------------------------------------------------------------------------------------------
# what a run considers

#: the record of the last run without failures (in ``state/``, shared by every worker)
CONSIDERED_RECORD = "affect_considered.json"


def _lake_key(settings: Settings, location: str | Path) -> str:
    """A lake file's location relative to the lake root: the record stays valid when the root is mounted elsewhere."""
    from pipeline.commits import lake_store

    return lake_store(settings).relative(str(location))


def _read_record(settings: Settings) -> dict[str, Any] | None:
    from pipeline.shared import read_state

    text = read_state(settings, CONSIDERED_RECORD)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        log.warning("state/%s is not valid JSON: every post of the lake is considered", CONSIDERED_RECORD)
        return None
    return record if isinstance(record, dict) else None


def _stale_reason(run: _Run, record: dict[str, Any] | None) -> str:
    """Why the record cannot be used (then the run considers every post), or '' when it can."""
    if run.force:
        return "every post is scored again"
    if record is None:
        return "no earlier scoring run on record"
    if record.get("scorer_version") != run.version:
        return f"the scorer version changed ({record.get('scorer_version')} -> {run.version})"
    current = {_lake_key(run.settings, f.path): f.version for f in run.posts_files}
    changed = sum(current.get(key) != version for key, version in record.get("posts", {}).items())
    if changed:
        return f"{changed:,} posts file(s) considered before were changed or removed"
    have = {_lake_key(run.settings, path) for path in run.previous_files}  # this version's files, listed once
    missing = len(set(record.get("affect", [])) - have)
    if missing:
        return f"{missing:,} affect file(s) of the scores on record are gone"
    return ""


def _plan(run: _Run) -> None:
    """Which posts files the run considers: the ones not on record, or all of them when the record cannot be used."""
    from pipeline.lake import committed_files

    run.posts_files = committed_files(run.settings, "posts")
    record = _read_record(run.settings)
    reason = _stale_reason(run, record)
    run.result["posts_files"] = len(run.posts_files)
    if reason:
        run.new_files = None
        run.result.update(
            posts_files_considered=len(run.posts_files), whole_lake=True, whole_lake_reason=reason
        )
        log.info("affect: every post of the lake is considered (%s)", reason)
        return
    seen = (record or {}).get("posts", {})
    run.new_files = [f.path for f in run.posts_files if _lake_key(run.settings, f.path) not in seen]
    run.result["posts_files_considered"] = len(run.new_files)
    log.info("affect: %d new posts file(s) of %d considered", len(run.new_files), len(run.posts_files))


def _version_files(run: _Run) -> list[LakeFile]:
    from pipeline.lake import committed_files

    return [f for f in committed_files(run.settings, "affect") if f"/scorer={run.version}/" in f.path]


def _save_record(run: _Run) -> None:
    """After a run without failures: the posts files it considered (with those before them) and this version's
    affect files, for the next run."""
    from pipeline.shared import write_state

    if run.result["failed"]:
        return
    record = {
        "scorer_version": run.version,
        "recorded_at": run.scored_at.isoformat(),
        "posts": {_lake_key(run.settings, f.path): f.version for f in run.posts_files},
        "affect": sorted(_lake_key(run.settings, f.path) for f in _version_files(run)),
    }
    write_state(run.settings, CONSIDERED_RECORD, json.dumps(record, indent=0, sort_keys=True))


@dataclass
class _Run:
    """The state of one scoring run: where it writes, what it counted, how far it got."""

    settings: Settings
    emotions: bool
    version: str
    force: bool
    result: dict[str, Any]
    progress: Progress | None
    root: Path = field(init=False)
    out_dir: Path = field(init=False)
    previous_files: list[Path] | list[str] = field(init=False)
    log: Any = None  # the run's commit (pipeline.commits.Commit) when the lake is on an object store
    posts_files: list[LakeFile] = field(default_factory=list)  # every committed posts file when the run began
    new_files: list[str] | None = None  # the posts files the run considers; None: every post of the lake
    processes: int = field(init=False)
    batch_size: int = field(init=False)
    scored_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seq: int = 0
    done: int = 0
    total: int = 0

    def __post_init__(self) -> None:
        from pipeline.files import remove_stale_temp_files

        self.root = affect_dir(self.settings)
        if self.settings.lake_remote:  # files are written to the spool and uploaded in one commit at the end
            self.root = self.settings.spool_dir / "affect"
            shutil.rmtree(self.root, ignore_errors=True)  # a crashed run's files: never committed
        self.out_dir = self.root / f"scorer={self.version}"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.root)
        if self.settings.lake_remote:
            from pipeline.commits import Commit, lake_store
            from pipeline.lake import committed_files

            prefix = f"/lake/affect/scorer={self.version}/"
            self.previous_files = [
                f.path for f in committed_files(self.settings, "affect") if prefix in f.path
            ]
            self.log = Commit(
                lake_store(self.settings), f"affect-{self.scored_at.strftime('%Y%m%dT%H%M%SZ')}"
            )
        else:
            self.previous_files = sorted(self.out_dir.glob("*.parquet"))
        self.processes = max(1, self.settings.affect.processes)
        self.batch_size = max(1, self.settings.affect.batch_size)

    def score_files(self) -> str | list[str]:
        """What ``read_parquet`` reads for the scores this version already has (the reuse steps)."""
        return [str(p) for p in self.previous_files] if self.log else str(self.out_dir / "*.parquet")

    @property
    def reuse(self) -> bool:
        """Scores already in this version's files count (not with force, which scores everything again)."""
        return bool(self.previous_files) and not self.force

    def out_path(self, kind: str) -> Path:
        self.seq += 1
        return self.out_dir / f"{self.scored_at.strftime('%Y%m%dT%H%M%S%fZ')}-{kind}{self.seq:05d}.parquet"

    def advance(self, n_posts: int) -> None:
        self.done += n_posts
        if self.progress:
            self.progress(self.done, self.total)

    def add(self, counts: dict[str, int], n_posts: int) -> None:
        for k, v in counts.items():
            self.result[k] += v
        self.advance(n_posts)


def score_lake(
    settings: Settings, progress: Progress | None = None, *, force: bool = False
) -> dict[str, Any]:
    """Score every post of the lake whose current text has not been scored by the current scorer.

    A post is a candidate when its latest fetch is not deleted/removed and ``text_for_scoring(title, text)``
    is not empty. It is skipped when the latest affect row of the current scorer version for that post has the
    same ``text_hash``; when another post already has a score for the same text, that score is copied instead
    of recomputed. New rows go to ``<lake>/affect/scorer=<version>/<run>-<n>.parquet`` (atomic writes). With
    ``force=True`` every candidate is scored again and the version's older files are removed afterwards. After
    a run without failures, directories of other scorer versions are removed: the warehouse only reads the
    scorer used last. Returns counts.
    """
    from pipeline.lake import has_posts

    started = time.monotonic()
    emotions = settings.affect.emotions
    version = scorer_version(emotions)
    result = _new_result(settings, version)
    if not result["enabled"] or not has_posts(settings):
        return result
    run = _Run(settings, emotions, version, force, result, progress)
    try:
        _plan(run)
        if run.new_files is None or run.new_files:
            _score_run(run)
    finally:
        result["seconds"] = round(time.monotonic() - started, 3)
    _housekeeping(run)
    _save_record(run)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _score_run(run: _Run) -> None:
    """Candidates, then copies of known scores, then new scores; in a private database that spills to disk."""
    import duckdb

    spill = tempfile.mkdtemp(prefix=".spill-", dir=run.root)
    # a private in-memory database; readers stream from cursors while the main connection writes
    con = duckdb.connect()
    try:
        from pipeline.commits import attach

        attach(con, run.settings)
        con.execute(f"set temp_directory = '{spill}'")
        con.execute("set preserve_insertion_order = false")
        con.execute("create table candidates (post_id varchar, text_hash varchar, text varchar)")
        _collect_candidates(con, run)
        if run.progress:
            run.progress(0, run.total)
        if run.total and run.reuse:
            _reuse_known_scores(con, run)
        _score_new_texts(con, run)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _load_scored(con: duckdb.DuckDBPyConnection, run: _Run) -> None:
    """Table scored: the text hash of the latest score of each post in this version's files (empty when everything
    is redone), of the posts in latest_texts only when the run considers the new posts files. Only the two columns
    the anti join reads are kept: the Parquet reader then skips the scores themselves (1M lake: 0.2 s instead of
    0.8 s)."""
    if not run.reuse:
        con.execute("create table scored (post_id varchar, text_hash varchar)")
    elif run.new_files is None:
        query = f"select post_id, text_hash from ({lake_query('latest_scores')})"
        con.execute(f"create table scored as {query}", {"files": run.score_files()})
    else:
        con.execute(f"create table scored as {lake_query('latest_scores_of')}", {"files": run.score_files()})


def _collect_candidates(con: duckdb.DuckDBPyConnection, run: _Run) -> None:
    """1. the latest version of every post considered -> candidates whose current text is not scored yet.

    DuckDB prepares the texts and their hashes (``text_for_scoring_sql``, ``sha256``) in latest_texts: over the
    whole lake a view (one pass counts what is skipped, sql/lake/candidate_counts.sql, a second inserts the
    candidates, with one anti join against the scores of this version, sql/lake/score_candidates.sql); over the new
    posts files only a table of their posts (sql/lake/latest_new_posts.sql)."""
    from pipeline.lake import posts_source

    text = text_for_scoring_sql("title", "text")
    if run.new_files is None:
        latest = f"select post_id, is_gone, {text} as text from ({_latest_posts_query()})"
        con.sql(latest, params={"posts_glob": posts_source(run.settings)}).create_view("latest_texts")
    else:
        latest = f"select post_id, is_gone, {text} as text from ({_latest_posts_query('latest_new_posts')})"
        files = {"new_files": run.new_files, "posts_files": [f.path for f in run.posts_files]}
        con.execute(f"create table latest_texts as {latest}", files)
    _load_scored(con, run)
    gone, blank, with_text = con.execute(lake_query("candidate_counts")).fetchall()[0]
    con.execute(f"insert into candidates {lake_query('score_candidates')}")
    run.total = con.execute("select count(*) from candidates").fetchall()[0][0]
    run.result.update(
        candidates=run.total,
        skipped_deleted=gone,
        skipped_no_text=blank,
        skipped_already_scored=with_text - run.total,
    )


def _reuse_known_scores(con: duckdb.DuckDBPyConnection, run: _Run) -> None:
    """2. texts already scored for another post: copy the score."""
    files = run.score_files()
    con.execute(f"create table known as {lake_query('known_scores')}", {"files": files})
    cols = ", ".join(f"k.{c}" for c in AFFECT_COLUMNS)
    query = f"select c.post_id, c.text_hash, {cols} from candidates c join known k using (text_hash)"
    for batch in _arrow_reader(con.cursor(), query, None, run.batch_size):
        if batch.num_rows == 0:
            continue
        arrays = _as_arrays({c: batch.column(c).to_numpy(zero_copy_only=False) for c in AFFECT_COLUMNS})
        table = _columns_to_table(
            batch.column("post_id").to_pylist(),
            batch.column("text_hash").to_pylist(),
            run.version,
            run.scored_at,
            arrays,
        )
        _write_table(table, run.out_path("r"))
        run.result["reused"] += batch.num_rows
        run.result["files_written"] += 1
        run.advance(batch.num_rows)
    con.execute("delete from candidates where text_hash in (select text_hash from known)")


# post rows per batch (and file): bounds a worker's memory when many posts share one text (reposts, boilerplate)
MAX_BATCH_POSTS = 100_000


@dataclass
class _Part:
    """Texts of one payload, the number of their posts in it, where its posts start among the batch's and
    whether its first text continues the previous part (a text with more posts than fit is split)."""

    texts: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    start: int = 0
    continues: bool = False


def _split_batch(texts: list[str], hashes: list[str], lengths: list[int], limit: int) -> Iterator[_Part]:
    """The texts of a batch in parts of at most ``limit`` posts."""
    part = _Part()
    filled = 0
    for text, h, length in zip(texts, hashes, lengths, strict=True):
        while length:
            take = min(length, limit - filled)
            part.texts.append(text)
            part.hashes.append(h)
            part.lengths.append(take)
            filled += take
            length -= take
            if filled == limit:
                yield part
                part = _Part(start=part.start + filled, continues=length > 0)
                filled = 0
    if filled:
        yield part


def _payloads(con: duckdb.DuckDBPyConnection, run: _Run) -> Iterator[dict[str, Any]]:
    """3. new texts: unique by hash, one batch (and one file) per payload, of at most ``affect.batch_size`` texts
    and ``MAX_BATCH_POSTS`` posts; the posts of a text with more go to several batches (it is scored in each)."""
    query = (
        "select text_hash, any_value(text) as text, list(post_id order by post_id) as post_ids"
        " from candidates group by text_hash"
    )
    for batch in _arrow_reader(con.cursor(), query, None, run.batch_size):
        if batch.num_rows == 0:
            continue
        ids = batch.column("post_ids")
        lengths = ids.value_lengths().to_pylist()
        all_ids = ids.flatten()
        for part in _split_batch(
            batch.column("text").to_pylist(), batch.column("text_hash").to_pylist(), lengths, MAX_BATCH_POSTS
        ):
            flat = all_ids.slice(part.start, sum(part.lengths)).to_pylist()
            offsets = list(itertools.accumulate(part.lengths, initial=0))
            yield {
                "texts": part.texts,
                "hashes": part.hashes,
                "post_ids": [flat[a:b] for a, b in itertools.pairwise(offsets)],
                "continues": part.continues,
                "version": run.version,
                "scored_at": run.scored_at,
                "emotions": run.emotions,
                "path": str(run.out_path("s")),
            }


def _n_posts(payload: dict[str, Any]) -> int:
    return sum(len(ids) for ids in payload["post_ids"])


def _score_new_texts(con: duckdb.DuckDBPyConnection, run: _Run) -> None:
    if run.processes == 1:
        scorer = Scorer(emotions=run.emotions)
        for payload in _payloads(con, run):
            run.add(_score_batch(payload, scorer), _n_posts(payload))
        return
    ctx = mp.get_context("spawn")  # never fork a process that holds DuckDB threads
    with cf.ProcessPoolExecutor(
        max_workers=run.processes, mp_context=ctx, initializer=_init_worker, initargs=(run.emotions,)
    ) as pool:
        _score_in_pool(pool, _payloads(con, run), run)


def _score_in_pool(pool: cf.ProcessPoolExecutor, source: Iterator[dict[str, Any]], run: _Run) -> None:
    pending: dict[cf.Future[dict[str, int]], int] = {}
    exhausted = False
    while pending or not exhausted:
        # at most two batches per worker in flight: bounded memory whatever the lake size
        while not exhausted and len(pending) < 2 * run.processes:
            payload = next(source, None)
            if payload is None:
                exhausted = True
                break
            pending[pool.submit(_score_batch, payload)] = _n_posts(payload)
        if not pending:
            break
        finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            n_posts = pending.pop(fut)
            try:
                counts = fut.result()
            except cf.process.BrokenProcessPool as exc:
                raise RippleError(f"affect scoring worker died: {exc}") from exc
            except Exception:  # noqa: BLE001 - counted; these posts are retried next run
                log.exception("affect batch failed")
                counts = {"failed": n_posts}
            run.add(counts, n_posts)


def _housekeeping(run: _Run) -> None:
    """4. superseded files of this version (force) and other scorer versions, after a run without failures."""
    if run.log is not None:
        _publish(run)
        return
    if run.result["failed"]:
        return
    if run.force:
        for path in run.previous_files:
            path.unlink(missing_ok=True)
            run.result["files_removed"] += 1
    for other in run.root.glob("scorer=*"):
        if other.is_dir() and other != run.out_dir:
            run.result["files_removed"] += sum(1 for _ in other.glob("*.parquet"))
            shutil.rmtree(other, ignore_errors=True)


def _publish(run: _Run) -> None:
    """On an object store: upload the new files and commit them in one manifest, which also supersedes what a
    run without failures removes (this version's older files with force, other scorer versions)."""
    for path in sorted(run.out_dir.glob("*.parquet")):
        run.log.add_file(path, f"lake/affect/scorer={run.version}/{path.name}")
    if not run.result["failed"]:
        keep = f"lake/affect/scorer={run.version}/"
        old = [
            r for r in run.log.view if r.startswith("lake/affect/") and (run.force or not r.startswith(keep))
        ]
        run.log.supersede(old)
        run.result["files_removed"] += len(set(old) - set(run.log.added))
    run.log.publish()
    from pipeline.commits import vacuum

    vacuum(run.log.store, "lake/affect/", ".parquet")  # uploads of a scoring run that died before its commit
    shutil.rmtree(run.root, ignore_errors=True)


def rescore(settings: Settings, progress: Progress | None = None) -> dict[str, Any]:
    """Score every post again with the current scorer (after a library upgrade, for instance)."""
    return score_lake(settings, progress, force=True)

"""A large lake written directly as Parquet, in the layout the pipeline reads, plus "a night" on top of it.

    PYTHONPATH=. .venv/bin/python bench/lakegen.py DATA_DIR --items 10000000            # history (+ affect scores)
    PYTHONPATH=. .venv/bin/python bench/lakegen.py DATA_DIR --night                     # add one night to it

The demo source produces realistic items but one at a time in Python (about 20k items/s); this writes the same
kind of lake with numpy and pyarrow, seeded, at several hundred thousand items a second:

* two platforms: ``demo`` (12 native communities, crossposts into other communities that gather replies there) and
  ``bluesky`` (no community column: communities are detected; reposts form a star around the original post);
* users with Pareto(1.6) activity, a home community, the demo's planted co-memberships and 3 % background second
  memberships; authors are pseudonymised with the data directory's key, like the lake's validator does;
* reply trees from the demo's branching process (mean 2.3 children under a top item, 0.9 x 0.62^(depth-1) deeper,
  lognormal delays, 72-hour cascades), 4 % long back-and-forth chains, deleted / removed comments;
* the demo's text pools (NRC/VADER-bearing sentences), and escape (crossposts, reposts) with the demo's planted
  affect effects, so the spread explanation has something to find;
* one run per day: ``lake/posts/platform=<p>/date=<d>/<source>-<window>.parquet`` with the items created that day
  and a ``state/runs.jsonl`` entry per run (coverage and warm-up are read from the run log).

``--night`` adds the next day as one more run: new items (1 % of the lake by default), late replies to 1 % of the old
cascades (roots drawn over the whole history), and a few re-fetched old items with changed scores (written into their
own date partitions under the night's run id, as a re-fetch does). Affect scores come from the real incremental step
(``pipeline.affect.score_lake``) run on the lake afterwards (``--no-affect`` leaves it out). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import Settings, load_settings
from pipeline.schema import FILE_SCHEMA
from pipeline.sources import demo

DAY = 86_400.0
LIMIT = demo.MAX_CASCADE_HOURS * 3600.0
START = date(2026, 1, 5)  # a Monday
ITEMS_PER_ROOT = 8.9  # measured on this generator
BLUESKY_SHARE = 0.25  # of the roots
USERS_PER_ITEM = 0.12  # the demo: 6,000 users per 50k items
REFETCHED = 50
DICTIONARY_COLUMNS = ["kind", "share_type", "community", "author_id", "author_name", "root_id", "lang",
                      "run_id", "source", "title", "text"]  # fmt: skip
KIND = np.array(["post", "comment", "share"])


@dataclass
class Population:
    """One platform's users: activity, community members (cumulative weights) and pairwise shared members."""

    platform: str
    names: pa.Array  # pseudonymised author ids, by user index
    members: list[np.ndarray]
    member_cdf: list[np.ndarray]
    bridges: dict[tuple[int, int], np.ndarray]

    def draw(self, rng: np.random.Generator, communities: np.ndarray) -> np.ndarray:
        """One member per entry of ``communities``, weighted by activity."""
        users = np.empty(len(communities), dtype=np.int64)
        for c in np.unique(communities):
            where = np.flatnonzero(communities == c)
            k = np.searchsorted(self.member_cdf[c], rng.random(len(where)))
            users[where] = self.members[c][np.minimum(k, len(self.members[c]) - 1)]
        return users


@dataclass
class Texts:
    titles: pa.Array  # community * POOL + pick
    bodies: pa.Array
    logits: np.ndarray  # escape log-odds, same index
    comments: pa.Array


def population(rng: np.random.Generator, platform: str, n_users: int, settings: Settings) -> Population:
    """The demo's membership model (home, planted partners, background second memberships), vectorised."""
    from pipeline.pseudonyms import pseudonymizer

    n_comm = len(demo.COMMUNITIES)
    activity = np.minimum((1.0 - rng.random(n_users)) ** (-1.0 / 1.6), 400.0)
    popularity = np.array([p for _, p in demo.COMMUNITIES])
    home = rng.choice(n_comm, size=n_users, p=popularity / popularity.sum())
    index = {c: i for i, (c, _) in enumerate(demo.COMMUNITIES)}
    draws = rng.random((n_users, 2))
    other = rng.integers(0, n_comm, size=n_users)
    users, comms, weights = [np.arange(n_users)], [home], [np.ones(n_users)]
    for a, b, prob, _label in demo.PLANTED_OVERLAP:
        for x, y in ((index[a], index[b]), (index[b], index[a])):
            sel = np.flatnonzero((home == x) & (draws[:, 0] < prob))
            users.append(sel), comms.append(np.full(len(sel), y)), weights.append(np.full(len(sel), 0.6))
    sel = np.flatnonzero((draws[:, 1] < demo.BACKGROUND_SECOND_MEMBERSHIP) & (other != home))
    users.append(sel), comms.append(other[sel]), weights.append(np.full(len(sel), 0.4))
    u, c, w = (
        np.concatenate(users),
        np.concatenate(comms),
        np.concatenate(weights) * activity[np.concatenate(users)],
    )
    members, cdf = [], []
    for k in range(n_comm):
        mask = c == k
        members.append(u[mask])
        cdf.append(np.cumsum(w[mask]) / w[mask].sum())
    bridges = {
        (i, j): np.intersect1d(members[i], members[j]) for i in range(n_comm) for j in range(n_comm) if i != j
    }
    raw = [f"user_{k:07d}" if platform == "demo" else f"did:plc:{k:024d}" for k in range(n_users)]
    pseudo = pseudonymizer(settings)
    names = pa.array([pseudo(platform, r) for r in raw] if pseudo else raw, pa.string())
    return Population(platform, names, members, cdf, bridges)


def texts(seed: int) -> Texts:
    """The demo's text pools and their planted escape log-odds (scored with ripple's own scorer)."""
    rng = np.random.default_rng([seed, 0x7E47])
    vocab = demo._emotion_vocab()
    titles, bodies = demo._text_pools(rng, vocab)
    logits, _mean, _sd, _intercept = demo._escape_logits(titles, bodies)
    return Texts(
        titles=pa.array([t for ts in titles for t in ts], pa.string()),
        bodies=pa.array([b for bs in bodies for b in bs], pa.string()),
        logits=np.concatenate(logits),
        comments=pa.array(demo._comment_pool(rng, vocab), pa.string()),
    )


class Forest:
    """The items of a set of cascades as parallel arrays (index = item)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "parent", "shared", "top", "root", "time", "deadline", "community", "author", "kind", "pick")}  # fmt: skip
        self.n = 0

    def add(self, **cols: np.ndarray) -> np.ndarray:
        size = len(cols["time"])
        defaults = {"parent": -1, "shared": -1, "pick": -1}
        for key, parts in self.cols.items():
            value = cols.get(key, defaults.get(key))
            parts.append(np.broadcast_to(np.asarray(value), (size,)).copy())
        ids = np.arange(self.n, self.n + size)
        self.n += size
        return ids

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.empty(0) for k, v in self.cols.items()}


def reply_trees(rng: np.random.Generator, pop: Population, f: Forest, tops: np.ndarray, a: dict) -> None:
    """The demo's branching process under every item of ``tops`` (``a``: the forest's arrays so far)."""
    frontier, depth = tops, 0
    when, deadline, comm, top, root = (a[k][tops] for k in ("time", "deadline", "community", "top", "root"))
    top = tops
    while len(frontier):
        mean = 2.3 if depth == 0 else 0.9 * 0.62 ** (depth - 1)
        idx = np.repeat(np.arange(len(frontier)), rng.poisson(mean, size=len(frontier)))
        child = when[idx] + rng.lognormal(7.4, 1.3, size=len(idx))
        keep = child <= deadline[idx]
        idx, child = idx[keep], child[keep]
        when, deadline, comm, top, root = child, deadline[idx], comm[idx], top[idx], root[idx]
        frontier = f.add(parent=frontier[idx], top=top, root=root, time=when, deadline=deadline, community=comm,
                         author=pop.draw(rng, comm), kind=1)  # fmt: skip
        depth += 1


def chains(rng: np.random.Generator, pop: Population, f: Forest, roots: np.ndarray) -> None:
    """Back-and-forth chains of 5-25 replies between two users under a random reply of 4 % of the cascades."""
    a = f.arrays()
    replies = np.flatnonzero(a["kind"] == 1)
    if not len(replies):
        return
    chosen = rng.random(len(roots)) < 0.04
    has = np.isin(roots, a["root"][replies])
    starts_for = roots[chosen & has]
    if not len(starts_for):
        return
    # a random reply of each chosen cascade
    order = replies[np.argsort(a["root"][replies], kind="stable")]
    first = np.searchsorted(a["root"][order], starts_for, side="left")
    last = np.searchsorted(a["root"][order], starts_for, side="right")
    node = order[first + (rng.random(len(first)) * (last - first)).astype(np.int64)]
    lengths = rng.integers(5, 26, size=len(node))
    chain = np.repeat(np.arange(len(node)), lengths)
    step = rng.lognormal(6.5, 0.8, size=len(chain))
    offsets = np.cumsum(step) - np.repeat(
        np.cumsum(step)[np.cumsum(lengths) - lengths] - step[np.cumsum(lengths) - lengths], lengths
    )
    when = a["time"][node][chain] + offsets
    keep = when <= a["deadline"][node][chain]
    position = np.arange(len(chain)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    # a chain stops at its first item past the deadline
    stop = np.full(len(node), 10**9)
    np.minimum.at(stop, chain[~keep], position[~keep])
    keep = position < stop[chain]
    chain, when, position = chain[keep], when[keep], position[keep]
    c = a["community"][node][chain]
    pair = np.stack([pop.draw(rng, a["community"][node]), pop.draw(rng, a["community"][node])], axis=1)
    ids = f.add(
        parent=np.zeros(len(chain), dtype=np.int64), top=a["top"][node][chain], root=a["root"][node][chain],
        time=when, deadline=a["deadline"][node][chain], community=c, author=pair[chain, position % 2], kind=1,
    )  # fmt: skip
    parents = np.where(position == 0, node[chain], np.concatenate([[0], ids[:-1]]))
    f.cols["parent"][-1] = parents


def escapes(
    rng: np.random.Generator, pop: Population, f: Forest, roots: np.ndarray, p: np.ndarray
) -> np.ndarray:
    """Crossposts / reposts of the roots that escape (probability ``p``): 1-3 distinct other communities."""
    a = f.arrays()
    n_comm = len(demo.COMMUNITIES)
    names = [c for c, _ in demo.COMMUNITIES]
    partner = np.zeros(n_comm, dtype=np.int64)
    for x, y, _, _ in demo.PLANTED_OVERLAP:
        partner[names.index(x)], partner[names.index(y)] = names.index(y), names.index(x)
    cdf = np.cumsum([q for _, q in demo.COMMUNITIES]) / sum(q for _, q in demo.COMMUNITIES)
    esc = roots[rng.random(len(roots)) < p]
    home = a["community"][esc]
    n_targets = 1 + rng.binomial(2, 0.25, size=len(esc))
    slots = np.where(
        rng.random((len(esc), 3)) < 0.5,
        partner[home][:, None],
        np.searchsorted(cdf, rng.random((len(esc), 3))),
    )
    slots[np.arange(3)[None, :] >= n_targets[:, None]] = -1
    slots[slots == home[:, None]] = -1
    slots[:, 1][slots[:, 1] == slots[:, 0]] = -1
    slots[:, 2][(slots[:, 2] == slots[:, 0]) | (slots[:, 2] == slots[:, 1])] = -1
    none = (slots < 0).all(axis=1)
    slots[none, 0] = (home[none] + 1 + rng.integers(0, n_comm - 1, size=none.sum())) % n_comm
    row, col = np.nonzero(slots >= 0)
    src, target = esc[row], slots[row, col]
    when = a["time"][src] + rng.lognormal(8.6, 1.0, size=len(src))
    late = when > a["deadline"][src]
    when[late] = a["time"][src][late] + LIMIT * 0.5
    sharer = pop.draw(rng, target)
    use_bridge = rng.random(len(src)) < 0.5
    for i in np.flatnonzero(use_bridge):
        bridge = pop.bridges[(int(a["community"][src[i]]), int(target[i]))]
        if len(bridge):
            sharer[i] = bridge[int(rng.integers(len(bridge)))]
    first = f.n
    f.add(shared=src, top=np.arange(first, first + len(src)), root=src, time=when, deadline=a["deadline"][src],
          community=target, author=sharer, kind=2, pick=a["pick"][src])  # fmt: skip
    return np.arange(first, first + len(src))


def cascades(
    rng: np.random.Generator, pop: Population, tx: Texts, n_roots: int, day_start: float, until: float
) -> dict[str, np.ndarray]:
    """Every item of ``n_roots`` cascades rooted on one day (items at or after ``until`` are dropped)."""
    f = Forest()
    hours = rng.choice(24, size=n_roots, p=demo._DIURNAL)
    t = day_start + hours * 3600.0 + rng.random(n_roots) * 3600.0
    cdf = np.cumsum([q for _, q in demo.COMMUNITIES]) / sum(q for _, q in demo.COMMUNITIES)
    comm = np.minimum(np.searchsorted(cdf, rng.random(n_roots)), len(cdf) - 1)
    pick = comm * demo.POOL_PER_COMMUNITY + rng.integers(0, demo.POOL_PER_COMMUNITY, size=n_roots)
    roots = f.add(top=np.arange(n_roots), root=np.arange(n_roots), time=t, deadline=t + LIMIT, community=comm,
                  author=pop.draw(rng, comm), kind=0, pick=pick)  # fmt: skip
    reply_trees(rng, pop, f, roots, f.arrays())
    chains(rng, pop, f, roots)
    shares = escapes(rng, pop, f, roots, 1.0 / (1.0 + np.exp(-tx.logits[pick])))
    if pop.platform == "demo":  # crossposts gather replies in their new community; reposts are a star
        reply_trees(rng, pop, f, shares, f.arrays())
    a = f.arrays()
    keep = a["time"] < until
    return a | {"keep": keep}


def to_table(
    a: dict[str, np.ndarray], rng: np.random.Generator, pop: Population, tx: Texts, prefix: str,
    fetched_at: datetime, run_id: str, source: str,
) -> pa.Table:  # fmt: skip
    """The forest's kept items as rows of FILE_SCHEMA; ids are ``<prefix>n<index>``."""
    n = len(a["time"])
    ids = pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "")
    if pop.platform == "bluesky":
        kind_word = np.where(a["kind"] == 2, "repost", "post")
        ids = pc.binary_join_element_wise(
            "bluesky:at://", pop.names.take(pa.array(a["author"])), "/app.bsky.feed.",
            pa.array(kind_word), "/", ids, "",
        )  # fmt: skip
    kind = a["kind"]
    id_of = lambda idx: pc.if_else(pa.array(idx >= 0), ids.take(pa.array(np.maximum(idx, 0))), None)  # noqa: E731
    replies = np.bincount(a["parent"][a["parent"] >= 0], minlength=n)
    shares = np.bincount(a["shared"][a["shared"] >= 0], minlength=n)
    roll = rng.random(n)
    deleted = (kind == 1) & (roll < 0.015)
    removed = ((kind == 1) & (roll >= 0.015) & (roll < 0.02)) | ((kind == 0) & (roll < 0.01))
    pick = np.maximum(a["pick"], 0)
    comment = tx.comments.take(pa.array(rng.integers(0, len(tx.comments), size=n)))
    body = pc.if_else(pa.array(kind == 0), tx.bodies.take(pa.array(pick)), comment)
    body = pc.if_else(pa.array(kind == 2), pa.nulls(n, pa.string()), body)
    body = pc.if_else(
        pa.array(deleted), "[deleted]", pc.if_else(pa.array(removed & (kind == 1)), "[removed]", body)
    )
    has_link = (kind != 1) & (rng.random(n) < 0.3)
    score = np.where(kind == 0, rng.lognormal(2.0, 1.2, n), np.where(kind == 2, rng.lognormal(1.5, 1.2, n),
                                                                       rng.lognormal(0.8, 1.0, n))).astype(np.int64)  # fmt: skip
    demo_platform = pop.platform == "demo"
    names = [c for c, _ in demo.COMMUNITIES]
    cols: dict[str, Any] = {
        "post_id": ids,
        "kind": pa.array(KIND[kind]),
        "share_type": pc.if_else(pa.array(kind == 2), "crosspost" if demo_platform else "repost", None),
        "community": pa.array(np.array(names)[a["community"]]) if demo_platform else pa.nulls(n, pa.string()),
        "author_id": pc.if_else(pa.array(deleted), None, pop.names.take(pa.array(a["author"]))),
        "author_name": pa.nulls(n, pa.string()),
        "parent_id": id_of(a["parent"]),
        "root_id": pc.if_else(pa.array(kind == 1), id_of(a["top"]), None),
        "shared_id": id_of(a["shared"]),
        "created_at": pa.array((a["time"] * 1e6).astype(np.int64)).cast(pa.timestamp("us", tz="UTC")),
        "title": pc.if_else(pa.array((kind != 1) & demo_platform), tx.titles.take(pa.array(pick)), None),
        "text": body,
        "url": pc.if_else(
            pa.array(has_link), pc.binary_join_element_wise("https://news.example.com/", ids, ""), None
        ),
        "lang": pa.array(np.full(n, "en")),
        "score": pa.array(score),
        "reply_count": pa.array(replies.astype(np.int64)),
        "share_count": pa.array(shares.astype(np.int64)),
        "is_deleted": pa.array(deleted),
        "is_removed": pa.array(removed),
        "fetched_at": pa.array(np.full(n, int(fetched_at.timestamp() * 1e6))).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "run_id": pa.array(np.full(n, run_id)),
        "source": pa.array(np.full(n, source)),
    }
    table = pa.table([cols[f.name] for f in FILE_SCHEMA], schema=FILE_SCHEMA)
    return table.filter(pa.array(a["keep"]))


# ------------------------------------------------------------------------------------------------ runs
PLATFORMS = (("demo", 1.0 - BLUESKY_SHARE), ("bluesky", BLUESKY_SHARE))


def window_key(day: date) -> str:
    since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"{since:%Y%m%dT%H%M%SZ}-{since + timedelta(days=1):%Y%m%dT%H%M%SZ}"


def fetched_at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=10)


def write_partition(settings: Settings, platform: str, day: date, run_day: date, table: pa.Table) -> Path:
    """``table`` as ``platform=<p>/date=<day>/<source>-<window of run_day>.parquet`` (stamped with that run)."""
    run_id = f"{platform}-{window_key(run_day)}"
    n = table.num_rows
    stamp = pa.array(np.full(n, int(fetched_at(run_day).timestamp() * 1e6))).cast(
        pa.timestamp("us", tz="UTC")
    )
    table = table.set_column(FILE_SCHEMA.get_field_index("fetched_at"), "fetched_at", stamp)
    table = table.set_column(FILE_SCHEMA.get_field_index("run_id"), "run_id", pa.array(np.full(n, run_id)))
    path = settings.posts_dir / f"platform={platform}" / f"date={day.isoformat()}" / f"{run_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd", use_dictionary=DICTIONARY_COLUMNS,
                   row_group_size=settings.lake.batch_rows)  # fmt: skip
    tmp.replace(path)
    return path


def run_log_entry(day: date, rows: int, key_print: str | None) -> dict[str, Any]:
    since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    done = fetched_at(day)
    return {
        "run_id": f"run-{window_key(day)}", "since": since.isoformat(),
        "until": (since + timedelta(days=1)).isoformat(), "status": "succeeded",
        "started_at": (done - timedelta(minutes=9)).isoformat(), "finished_at": (done + timedelta(minutes=5)).isoformat(),
        "resumed": False, "rows": rows, "quarantined": 0, "failed_sources": {}, "seconds": {},
        "key_fingerprint": key_print,
    }  # fmt: skip


def append_runs(settings: Settings, entries: list[dict[str, Any]]) -> None:
    from pipeline.state import state_dir

    path = state_dir(settings) / "runs.jsonl"
    with open(path, "a", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")


def day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def split_by_day(table: pa.Table) -> dict[date, pa.Table]:
    days = pc.cast(pc.divide(pc.cast(table["created_at"], pa.int64()), 86_400_000_000), pa.int64())
    out = {}
    for number in pc.unique(days).to_pylist():
        out[date(1970, 1, 1) + timedelta(days=number)] = table.filter(pc.equal(days, number))
    return out


# ------------------------------------------------------------------------------------------------ history
def populations(settings: Settings, items: int, seed: int) -> dict[str, Population]:
    return {
        platform: population(
            np.random.default_rng([seed, 0x909, k]),
            platform,
            max(200, int(items * USERS_PER_ITEM * share)),
            settings,
        )  # fmt: skip
        for k, (platform, share) in enumerate(PLATFORMS)
    }


def day_tables(
    spec: dict[str, Any], pops: dict[str, Population], tx: Texts, day_index: int, n_roots_day: float,
    until: float,
) -> dict[str, pa.Table]:  # fmt: skip
    """Every item (up to ``until``) of the cascades rooted on one day, per platform."""
    day = date.fromisoformat(spec["start"]) + timedelta(days=day_index)
    out = {}
    for k, (platform, share) in enumerate(PLATFORMS):
        rng = np.random.default_rng([spec["seed"], day_index, k])
        a = cascades(rng, pops[platform], tx, int(rng.poisson(n_roots_day * share)), day_start(day), until)
        out[platform] = to_table(
            a, rng, pops[platform], tx, f"{platform}:{day:%Y%m%d}n", fetched_at(day), "", platform
        )
    return out


def generate(
    settings: Settings, items: int, days: int = 100, seed: int = 17, start: date = START
) -> dict[str, Any]:
    """A lake of about ``items`` items over ``days`` daily runs (each day about 1 % of the items at 100 days)."""
    started = time.perf_counter()
    spec = {"items": items, "days": days, "seed": seed, "start": start.isoformat(), "nights": 0}
    pops, tx = populations(settings, items, seed), texts(seed)
    setup = time.perf_counter() - started
    end = day_start(start + timedelta(days=days))
    pending: dict[tuple[str, date], list[pa.Table]] = {}
    rows, entries = 0, []
    for d in range(days):
        for platform, table in day_tables(spec, pops, tx, d, items / ITEMS_PER_ROOT / days, end).items():
            for day, part in split_by_day(table).items():
                pending.setdefault((platform, day), []).append(part)
        today = start + timedelta(days=d)
        n_today = 0
        for platform, _ in PLATFORMS:
            parts = pending.pop((platform, today), [])
            if parts:
                write_partition(settings, platform, today, today, pa.concat_tables(parts))
                n_today += sum(p.num_rows for p in parts)
        rows += n_today
        entries.append(run_log_entry(today, n_today, _key_print(settings)))
    append_runs(settings, entries)
    _save_spec(settings, spec | {"rows": rows})
    return {"items": rows, "days": days, "seconds": round(time.perf_counter() - started, 2),
            "setup_seconds": round(setup, 2)}  # fmt: skip


def _key_print(settings: Settings) -> str | None:
    from pipeline.pseudonyms import key_fingerprint

    return key_fingerprint(settings)


def _spec_path(settings: Settings) -> Path:
    return settings.data_dir / "lakegen.json"


def _save_spec(settings: Settings, spec: dict[str, Any]) -> None:
    _spec_path(settings).write_text(json.dumps(spec, indent=1), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ a night
def add_night(
    settings: Settings,
    new_items: int | None = None,
    late_cascades: int | None = None,
    refetched: int = REFETCHED,
) -> dict:
    """One more daily run: ``new_items`` new items (default 1 % of the lake), among them late replies to
    ``late_cascades`` old cascades (default 1 % of them; roots drawn over the whole history), and ``refetched``
    old items fetched again with new scores."""
    import duckdb

    started = time.perf_counter()
    spec = json.loads(_spec_path(settings).read_text(encoding="utf-8"))
    d = spec["days"] + spec["nights"]
    night = date.fromisoformat(spec["start"]) + timedelta(days=d)
    rng = np.random.default_rng([spec["seed"], 0x419, d])
    pops, tx = populations(settings, spec["items"], spec["seed"]), texts(spec["seed"])
    con = duckdb.connect()
    glob = str(settings.posts_dir / "**" / "*.parquet")
    roots = con.sql(
        f"select post_id, platform, community from read_parquet('{glob}', hive_partitioning = true) "
        "where kind = 'post'"
    ).to_arrow_table()
    total = con.execute(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0]
    chosen = roots.take(
        pa.array(
            rng.choice(
                roots.num_rows,
                size=min(
                    roots.num_rows, late_cascades if late_cascades is not None else roots.num_rows // 100
                ),
                replace=False,
            )
        )
    )
    late = late_replies(rng, pops, tx, chosen, day_start(night))
    target_new = (new_items if new_items is not None else total // 100) - sum(
        t.num_rows for t in late.values()
    )
    end = day_start(night) + DAY
    new = day_tables(spec, pops, tx, d, max(0, target_new) / ITEMS_PER_ROOT, end)
    rows = 0
    for platform, _ in PLATFORMS:
        parts = [t for t in (new[platform], late.get(platform)) if t is not None]
        table = pa.concat_tables([split_by_day(p).get(night, p.slice(0, 0)) for p in parts])
        write_partition(settings, platform, night, night, table)
        rows += table.num_rows
    refetch_rows = refetch(settings, con, rng, night, refetched)
    con.close()
    append_runs(settings, [run_log_entry(night, rows + refetch_rows, _key_print(settings))])
    spec["nights"] += 1
    _save_spec(settings, spec)
    return {"night": night.isoformat(), "new_items": rows, "late_replies": sum(t.num_rows for t in late.values()),
            "old_cascades_touched": chosen.num_rows, "refetched": refetch_rows, "lake_items_before": total,
            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def late_replies(
    rng: np.random.Generator, pops: dict[str, Population], tx: Texts, roots: pa.Table, start: float
) -> dict[str, pa.Table]:
    """1-3 replies (in the night's window) to each of ``roots``."""
    out = {}
    names = [c for c, _ in demo.COMMUNITIES]
    for platform, _ in PLATFORMS:
        mine = roots.filter(pc.equal(roots["platform"], platform))
        if not mine.num_rows:
            continue
        per = 1 + rng.binomial(2, 0.3, size=mine.num_rows)
        idx = np.repeat(np.arange(mine.num_rows), per)
        comm = mine["community"].to_numpy(zero_copy_only=False)[idx]
        comm = (
            np.array([names.index(c) if c else 0 for c in comm])
            if platform == "demo"
            else np.zeros(len(idx), int)
        )
        if platform != "demo":
            comm = rng.integers(0, len(names), size=len(idx))
        a = {
            "parent": np.full(len(idx), -1), "shared": np.full(len(idx), -1), "top": np.full(len(idx), -1),
            "root": np.full(len(idx), -1), "time": start + rng.random(len(idx)) * DAY,
            "deadline": np.full(len(idx), start + DAY), "community": comm,
            "author": pops[platform].draw(rng, comm), "kind": np.ones(len(idx), dtype=np.int64),
            "pick": np.full(len(idx), -1), "keep": np.ones(len(idx), dtype=bool),
        }  # fmt: skip
        night = datetime.fromtimestamp(start, UTC).date()
        table = to_table(
            a, rng, pops[platform], tx, f"{platform}:{night:%Y%m%d}late", fetched_at(night), "", platform
        )
        parent = mine["post_id"].take(pa.array(idx))
        for name in ("parent_id", "root_id"):
            table = table.set_column(FILE_SCHEMA.get_field_index(name), name, parent)
        out[platform] = table
    return out


def refetch(settings: Settings, con: Any, rng: np.random.Generator, night: date, n: int) -> int:
    """``n`` old items fetched again by the night's run: same item, a changed score, the night's provenance."""
    glob = str(settings.posts_dir / "**" / "*.parquet")
    picked = con.sql(
        f"select * from read_parquet('{glob}', hive_partitioning = true, "
        f"hive_types = {{'platform': varchar, 'date': date}}) using sample {n} rows (reservoir, 7)"
    ).to_arrow_table()
    rows = 0
    pairs = set(zip(picked["platform"].to_pylist(), picked["date"].to_pylist(), strict=True))
    for platform, day in sorted(pairs):
        mask = pc.and_(
            pc.equal(picked["platform"], platform), pc.equal(picked["date"], pa.scalar(day, pa.date32()))
        )
        part = picked.filter(mask).select(FILE_SCHEMA.names)
        score = pc.add(pc.fill_null(part["score"], 0), pa.array(rng.integers(1, 50, size=part.num_rows)))
        part = part.set_column(FILE_SCHEMA.get_field_index("score"), "score", score).cast(FILE_SCHEMA)
        write_partition(settings, platform, day, night, part)
        rows += part.num_rows
    return rows


# ------------------------------------------------------------------------------------------------ cli
def score(settings: Settings) -> dict[str, Any]:
    """The real incremental affect step on the lake (``ripple affect``)."""
    from pipeline.affect import score_lake

    started = time.perf_counter()
    result = score_lake(settings)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        **{k: v for k, v in result.items() if isinstance(v, int | float | str)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--night", action="store_true", help="add one night to an existing generated lake")
    parser.add_argument("--night-items", type=int, help="new items of the night (default: 1 %% of the lake)")
    parser.add_argument("--late-cascades", type=int, help="old cascades with late replies (default: 1 %%)")
    parser.add_argument("--no-affect", action="store_true", help="leave out the affect scores")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    out: dict[str, Any] = {"bench": "lakegen", "data_dir": args.data_dir}
    if args.night:
        out["night"] = add_night(settings, args.night_items, args.late_cascades)
    else:
        out["history"] = generate(settings, args.items, args.days, args.seed)
    if not args.no_affect:
        out["affect"] = score(settings)
    for key in ("history", "night"):
        if key in out:
            print(f"{key}: {out[key]}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()

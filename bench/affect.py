"""Affect scoring throughput: the loop a competent user writes versus pipeline.scoring.Scorer, 1 and 2 processes.

    python bench/affect.py --n 20000   # what bench/README.md reports
    python bench/affect.py --n 300     # smoke run (tests/unit/test_bench.py)

Two sets of texts, each de-duplicated (exact string) so that nothing is scored twice:

* real: comment bodies, titles, tweets, toots and Bluesky posts extracted from ../shared/realdata (Reddit
  cassettes and dump lines, X pages and cassettes, Mastodon and Bluesky responses; see ``real_texts``), ``--n`` unique
  ones drawn at random (seeded); when there are fewer, the set is all of them, never repeated;
* generated: ``--n`` generated social texts (emoji, URLs, hashtags, mentions, mixed lengths).

The fair loop is what a competent user writes to get the same columns from the libraries' public APIs: one
``SentimentIntensityAnalyzer()``, one ``NRCLex()`` and one ``TweetTokenizer`` shared by all texts,
``TextBlob(text).sentiment`` per text, ``nrc.load_token_list(tokens)`` then ``raw_emotion_scores`` and
``affect_dict`` for the rates and arousal (the tokens filtered as docs/affect.md says). Its scores are compared with
the Scorer's for exact equality on every text. Each library's share of the time is printed for both.

The Scorer's own figure is on unique texts. Lake scoring also de-duplicates by text hash (``score_lake`` scores
each distinct text once and copies the scores to the other posts); its effect is shown separately on ``--n`` items
drawn with repetition from the real set. The 2-process run is a pool of spawned workers on the real set
(start-up and lexicon loading included). Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import html
import json
import multiprocessing as mp
import os
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import scoring  # noqa: E402
from pipeline.scoring import AFFECT_COLUMNS, EMOTIONS, HIGH_AROUSAL, Scorer, text_hash  # noqa: E402

REALDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
# platforms whose posts are scored; hackernews is left out (not a platform ripple reads)
REAL_SOURCES = ("reddit_praw", "reddit_pushshift_ndjson", "twitter_", "mastodon_", "bluesky_")
TEXT_KEYS = {"body", "selftext", "title", "text", "full_text"}
HTML_KEYS = {"content"}  # Mastodon statuses carry HTML
_TAG_RE = re.compile(r"<br\s*/?>|</p>")
_ANY_TAG_RE = re.compile(r"<[^>]+>")

# ------------------------------------------------------------------------------------------- real texts


def _walk(obj: Any, out: list[str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in TEXT_KEYS and isinstance(value, str):
                out.append(value)
            elif key in HTML_KEYS and isinstance(value, str):
                out.append(html.unescape(_ANY_TAG_RE.sub("", _TAG_RE.sub("\n", value))))
            else:
                _walk(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _walk(value, out)


def _body(response: dict) -> Any:
    """The decoded JSON of a recorded response (betamax, vcrpy and R/Ruby vcr cassettes); None if not JSON."""
    body = response.get("body", {})
    raw = body.get("string", body.get("base64_string")) if isinstance(body, dict) else body
    if isinstance(raw, bytes):
        with contextlib.suppress(OSError):
            raw = gzip.decompress(raw)
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def _documents(path: Path) -> Iterator[Any]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".yml", ".yaml"):
        import yaml

        try:
            docs = [yaml.safe_load(raw)]
        except yaml.YAMLError:
            return
    else:
        try:
            docs = [json.loads(raw)]
        except json.JSONDecodeError:
            docs = []
            for line in raw.splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    docs.append(json.loads(line))
    for doc in docs:
        interactions = (
            doc.get("interactions", doc.get("http_interactions")) if isinstance(doc, dict) else None
        )
        if interactions is None:
            yield doc
            continue
        for it in interactions:  # cassettes: only response bodies hold posts
            if isinstance(it, dict) and isinstance(it.get("response"), dict):
                body = _body(it["response"])
                if body is not None:
                    yield body


def real_texts(root: Path = REALDATA) -> tuple[list[str], dict[str, int]]:
    """Unique non-blank texts of the recorded responses, in file order, and the count per source folder."""
    seen: dict[str, None] = {}
    per_source: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        source = path.relative_to(root).parts[0]
        if not path.is_file() or not source.startswith(REAL_SOURCES) or path.suffix == ".md":
            continue
        found: list[str] = []
        for doc in _documents(path):
            _walk(doc, found)
        before = len(seen)
        seen.update((t, None) for t in found if t.strip())
        per_source[source] = per_source.get(source, 0) + len(seen) - before
    return list(seen), per_source


# ------------------------------------------------------------------------------------------- generated texts


WORDS = (
    "i you we they this that it is was are be not no never very so really just like love hate angry furious "
    "mad scared afraid terrified worried happy glad joy excited sad upset crying terrible awful horrible "
    "wonderful amazing great good bad best worst surprise shocked unexpected suddenly trust honest reliable "
    "lie fraud corrupt vote election government minister policy people country money bank crisis war peace "
    "hope wait soon tomorrow tonight weekend game team win lose music movie book science space research data "
    "code bug release update phone price market stock climate weather rain storm fire police court law kill "
    "death disease doctor hospital school kids family friend dog cat food pizza coffee beer the a an of to "
    "in on for with about from by at as but and or if because when what why how who where kind lol omg wtf "
    "smh tbh imo idk yes yeah nope definitely absolutely maybe probably seriously literally"
).split()
EMOJI = [
    "😡",
    "😂",
    "❤️",
    "🔥",
    "👍",
    "👍🏽",
    "😭",
    "🙏",
    "😱",
    "🎉",
    "💯",
    "🤔",
    "😍",
    "🙄",
    "👀",
    "✨",
    "💀",
    "🇬🇧",
]
EMOTICONS = [":)", ":-(", ":D", ";)", "<3", ":/", "xD"]
DOMAINS = ["example.com", "news.example.org", "t.co", "youtu.be", "github.com", "bbc.co.uk"]
HASHTAGS = [
    "Brexit",
    "Election2026",
    "python",
    "ClimateCrisis",
    "WorldCup",
    "MachineLearning",
    "breaking",
    "MondayMotivation",
]


def generate_texts(n: int, seed: int = 42) -> list[str]:
    """Social texts of mixed lengths: tweets, comments and long posts with emoji, URLs, hashtags, mentions."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.45:
            length = rng.randint(3, 40)  # tweet / short comment
        elif kind < 0.9:
            length = rng.randint(15, 80)  # comment
        else:
            length = rng.randint(80, 400)  # long post
        parts = []
        for _ in range(length):
            r = rng.random()
            if r < 0.86:
                w = rng.choice(WORDS)
                if rng.random() < 0.05:
                    w = w.upper()
                elif rng.random() < 0.08:
                    w = w.capitalize()
                parts.append(
                    w + (rng.choice([",", ".", "!", "?", "!!!", "..."]) if rng.random() < 0.1 else "")
                )
            elif r < 0.92:
                parts.append(rng.choice(EMOJI) * rng.choice([1, 1, 1, 2, 3]))
            elif r < 0.94:
                parts.append(rng.choice(EMOTICONS))
            elif r < 0.96:
                parts.append("#" + rng.choice(HASHTAGS))
            elif r < 0.98:
                parts.append(f"@user{rng.randint(1, 9999)}")
            else:
                parts.append(f"https://{rng.choice(DOMAINS)}/{rng.randint(10**5, 10**9):x}")
            if rng.random() < 0.03:
                parts.append("\n\n")
        text = " ".join(parts)
        texts.append(text[:1].upper() + text[1:])
    return texts


# ------------------------------------------------------------------------------------------- the fair loop

PARTS = ("textblob", "vader", "tokenize", "nrc")
_LETTER_RE = re.compile(r"[^\W\d_]")


class FairLoop:
    """Per text: TextBlob(text).sentiment, one shared VADER analyzer, one shared TweetTokenizer, one NRCLex."""

    def __init__(self) -> None:
        import regex
        from nltk.tokenize.casual import URLS, TweetTokenizer
        from nrclex import NRCLex
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.vader = SentimentIntensityAnalyzer()
        self.nrc = NRCLex()
        self.tokenizer = TweetTokenizer(
            preserve_case=False, reduce_len=False, strip_handles=True, match_phone_numbers=False
        )
        self.url = regex.compile(URLS, regex.VERBOSE | regex.I | regex.UNICODE)
        self.high = set(HIGH_AROUSAL)
        self.seconds = dict.fromkeys(PARTS, 0.0)

    def tokens(self, text: str) -> list[str]:
        out = []
        for t in self.tokenizer.tokenize(text):
            t = t.lstrip("#") if t.startswith("#") else t
            if _LETTER_RE.search(t) and not self.url.fullmatch(t):
                out.append(t)
        return out

    def score(self, text: str) -> dict[str, float]:
        from textblob import TextBlob

        clock = time.perf_counter
        t0 = clock()
        sentiment = TextBlob(text).sentiment
        t1 = clock()
        vs = self.vader.polarity_scores(text)
        t2 = clock()
        tokens = self.tokens(text)
        t3 = clock()
        n = len(tokens)
        self.nrc.load_token_list(tokens)
        raw, affect = self.nrc.raw_emotion_scores, self.nrc.affect_dict
        row = {f"nrc_{e}": raw.get(e, 0) / n if n else 0.0 for e in EMOTIONS}
        row["arousal"] = sum(1 for t in tokens if self.high.intersection(affect.get(t, ()))) / n if n else 0.0
        t4 = clock()
        for part, seconds in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            self.seconds[part] += seconds
        row.update(
            tb_polarity=sentiment.polarity,
            tb_subjectivity=sentiment.subjectivity,
            vader_compound=vs["compound"],
            vader_pos=vs["pos"],
            vader_neu=vs["neu"],
            vader_neg=vs["neg"],
            n_tokens=n,
        )
        return row


def fresh_scorer() -> Scorer:
    """A Scorer that has seen no text (its per-word tables start empty, as in a new worker process)."""
    scoring._tweet_tokenizer().memo.clear()
    return Scorer()


def scorer_parts(texts: list[str]) -> dict[str, float]:
    """Seconds per library in the Scorer (a separate pass with a fresh Scorer). Tokens and NRC counts are one
    step there: a unit of text is tokenized and counted together, once."""
    scorer = fresh_scorer()
    clock = time.perf_counter
    seconds = {"textblob": 0.0, "vader": 0.0, "tokenize+nrc": 0.0}
    for text in texts:
        t0 = clock()
        scorer._pattern_sentiment(text)
        t1 = clock()
        scorer._vader.polarity_scores(text)
        t2 = clock()
        scorer._emotion_counts(text)
        t3 = clock()
        seconds["textblob"] += t1 - t0
        seconds["vader"] += t2 - t1
        seconds["tokenize+nrc"] += t3 - t2
    return seconds


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds, CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def compare_set(name: str, texts: list[str]) -> dict[str, Any]:
    """The fair loop and the Scorer on one set of unique texts: rates, time per library, equal scores."""
    warm = FairLoop()
    warm.score("A good start. :)")  # TextBlob loads its lexicon on first use: not counted
    loop = FairLoop()
    expected, loop_s, loop_cpu = timed(lambda: [loop.score(t) for t in texts])
    got, scorer_s, scorer_cpu = timed(lambda: fresh_scorer().score_many(texts))
    parts = scorer_parts(texts)
    identical = all(got[c][i] == row[c] for i, row in enumerate(expected) for c in AFFECT_COLUMNS)
    n = len(texts)
    fig = {
        "texts": n,
        "mean_chars": round(sum(map(len, texts)) / max(1, n), 1),
        "loop_items_per_s": round(n / loop_s, 1),
        "scorer_items_per_s": round(n / scorer_s, 1),
        "speedup_per_core": round(loop_s / scorer_s, 2),
        "speedup_per_cpu_s": round(loop_cpu / scorer_cpu, 2),
        "loop_seconds": {k: round(v, 2) for k, v in loop.seconds.items()},
        "scorer_seconds": {k: round(v, 2) for k, v in parts.items()},
        "loop_s": round(loop_s, 2),
        "scorer_s": round(scorer_s, 2),
        "identical_to_loop": identical,
    }
    share = ", ".join(f"{k} {v / loop_s:.0%}" for k, v in loop.seconds.items())
    print(f"{name}: {n} unique texts, mean {fig['mean_chars']} chars")
    print(f"  fair loop: {fig['loop_items_per_s']:.0f} items/s ({share})")
    share = ", ".join(f"{k} {v / sum(parts.values()):.0%}" for k, v in parts.items())
    print(f"  Scorer:    {fig['scorer_items_per_s']:.0f} items/s ({share})")
    print(
        f"  speed-up per core: {fig['speedup_per_core']}x (CPU time: {fig['speedup_per_cpu_s']}x); identical {identical}"
    )
    return fig


def with_duplicates(unique: list[str], n: int, seed: int) -> dict[str, Any]:
    """Items drawn with repetition from ``unique``, scored as score_lake does: once per distinct text hash."""
    items = random.Random(seed).choices(unique, k=n)

    def run() -> None:
        first: dict[str, int] = {}
        index = [first.setdefault(text_hash(t), len(first)) for t in items]
        distinct = [""] * len(first)
        for t, i in zip(items, index, strict=True):
            distinct[i] = t
        cols = fresh_scorer().score_many(distinct)
        _ = {c: cols[c][index] for c in AFFECT_COLUMNS}

    _, wall, _ = timed(run)
    distinct = len(set(items))
    return {"items": n, "distinct": distinct, "items_per_s": round(n / wall, 1)}


def same_columns(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(a[c], b[c], equal_nan=c != "n_tokens") for c in AFFECT_COLUMNS)


def high_water_mb() -> float:
    """Peak resident memory of this process image (VmHWM: ru_maxrss also counts a worker's pre-exec fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_worker: Scorer | None = None


def _init() -> None:
    global _worker
    _worker = Scorer()


def _score_chunk(texts: list[str]) -> tuple[dict[str, np.ndarray], float, float]:
    assert _worker is not None
    cpu = time.process_time()
    cols = _worker.score_many(texts)
    return cols, high_water_mb(), time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pool(
    texts: list[str], processes: int, chunk: int
) -> tuple[dict[str, np.ndarray], float, float, float, float]:
    """Scores, wall seconds, CPU seconds of the workers (counted once they exit; start-up included), CPU
    seconds spent scoring (start-up excluded), worker peak memory in MB."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    parts, peak, scoring_cpu = [], 0.0, 0.0
    pool = mp.get_context("spawn").Pool(processes, initializer=_init)
    try:
        for cols, mb, cpu in pool.imap(_score_chunk, chunks):
            parts.append(cols)
            peak = max(peak, mb)
            scoring_cpu += cpu
    finally:
        pool.close()
        pool.join()
    out = {c: np.concatenate([p[c] for p in parts]) for c in AFFECT_COLUMNS}
    return out, time.perf_counter() - started, _children_cpu() - cpu_before, scoring_cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="texts per set (the real set may hold fewer)")
    parser.add_argument("--chunk", type=int, default=2_000, help="texts per task in the 2-process pool")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--realdata", type=Path, default=REALDATA, help="folder of recorded responses")
    args = parser.parse_args()
    load_start = os.getloadavg()
    print(f"cpus: {os.cpu_count()}; load average at start {load_start}")

    real, per_source = real_texts(args.realdata) if args.realdata.is_dir() else ([], {})
    real = random.Random(args.seed).sample(real, min(args.n, len(real)))  # all sources, not the first files
    real = [Scorer.prepare(t) for t in real]
    generated = [Scorer.prepare(t) for t in dict.fromkeys(generate_texts(args.n, args.seed))]
    print(f"real texts: {len(real)} unique of {sum(per_source.values())} found {per_source} (not repeated)")
    figures: dict[str, Any] = {"bench": "affect", "n": args.n}
    sets = {"real": real, "generated": generated}
    for name, texts in sets.items():
        if texts:
            figures[name] = compare_set(name, texts)

    both = real + generated
    _, build_s, _ = timed(fresh_scorer)
    one, one_s, one_cpu = timed(lambda: fresh_scorer().score_many(both))
    two, two_s, two_cpu, two_scoring_cpu, worker_mb = run_pool(both, 2, args.chunk)
    figures["processes"] = {
        "texts": len(both),
        "one_items_per_s": round(len(both) / one_s, 1),
        "two_items_per_s": round(len(both) / two_s, 1),
        "speedup_second_process": round(one_s / two_s, 2),
        "cpu_s_one": round(one_cpu, 2),
        "cpu_s_two_workers": round(two_cpu, 2),
        # what two idle cores would give: the workers' CPU time (start-up, lexicons, cold per-word tables
        # included) against one process's; on a loaded machine the wall-clock figure is lower
        "speedup_two_idle_cores": round(2 * one_cpu / two_cpu, 2),
        # the same once the workers have started (imports and lexicons loaded): a long backfill
        "speedup_two_idle_cores_started": round(2 * one_cpu / two_scoring_cpu, 2),
        "cpu_s_two_workers_scoring": round(two_scoring_cpu, 2),
        "identical_1_vs_2": same_columns(one, two),
        "peak_rss_mb_worker": round(worker_mb, 1),
        "scorer_build_s": round(build_s, 2),
    }
    p = figures["processes"]
    print(
        f"real + generated, {len(both)} texts: 1 process {p['one_items_per_s']:.0f} items/s, "
        f"2 processes {p['two_items_per_s']:.0f} items/s = {p['speedup_second_process']}x "
        f"(CPU {p['cpu_s_one']}s vs {p['cpu_s_two_workers']}s in the workers); identical {p['identical_1_vs_2']}"
    )
    print(
        f"  on two idle cores (from CPU time): {p['speedup_two_idle_cores']}x; building a Scorer takes {build_s:.2f}s"
    )
    if real:
        dup = with_duplicates(real, args.n, args.seed)
        dup["vs_unique_scorer"] = round(dup["items_per_s"] / figures["real"]["scorer_items_per_s"], 2)
        figures["real_with_duplicates"] = dup
        print(
            f"text-hash de-duplication: {dup['items']} items drawn from the real set ({dup['distinct']} distinct): "
            f"{dup['items_per_s']:.0f} items/s, {dup['vs_unique_scorer']}x the unique-text figure"
        )
    figures["load_average_start"] = [round(x, 2) for x in load_start]
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["peak_rss_mb_main"] = round(high_water_mb(), 1)
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures))
    equal = [f["identical_to_loop"] for k, f in figures.items() if k in sets] + [p["identical_1_vs_2"]]
    if not all(equal):
        sys.exit(1)


if __name__ == "__main__":
    main()

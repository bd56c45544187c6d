"""Affect scoring throughput: straightforward per-item calls versus pipeline.scoring.Scorer, 1 and 2 processes.

    python bench/affect.py            # 200k generated social texts
    python bench/affect.py --n 5000   # quick run

The straightforward loop builds fresh library objects for every item (``TextBlob(text).sentiment``,
``SentimentIntensityAnalyzer().polarity_scores(text)``, ``NRCLex().load_token_list(tokens)``). It runs on the
first ``--naive-n`` texts only (under 100 items/s, it would take most of an hour on 200k); its items/s is
per item, so it compares directly. The Scorer runs on all ``--n`` texts in this process, then in a pool of 2
spawned worker processes (start-up and lexicon loading included in the timing). Scores are checked for exact
equality: Scorer versus the straightforward loop on its sample, and 2 processes versus 1 process on all texts.
Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.scoring import AFFECT_COLUMNS, Scorer, score_direct  # noqa: E402

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


def same(a: dict, b: dict) -> bool:
    for col in AFFECT_COLUMNS:
        x, y = a[col], b[col]
        if not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


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


def _score_chunk(texts: list[str]) -> tuple[dict[str, np.ndarray], float]:
    assert _worker is not None
    return _worker.score_many(texts), high_water_mb()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pool(
    texts: list[str], processes: int, chunk: int
) -> tuple[dict[str, np.ndarray], float, float, float]:
    """Scores, wall seconds, CPU seconds of the workers (counted once they exit), worker peak memory in MB."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    parts, peak = [], 0.0
    pool = mp.get_context("spawn").Pool(processes, initializer=_init)
    try:
        for cols, mb in pool.imap(_score_chunk, chunks):
            parts.append(cols)
            peak = max(peak, mb)
    finally:
        pool.close()
        pool.join()
    out = {c: np.concatenate([p[c] for p in parts]) for c in AFFECT_COLUMNS}
    return out, time.perf_counter() - started, _children_cpu() - cpu_before, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000, help="texts scored by the Scorer runs")
    parser.add_argument("--naive-n", type=int, default=2_000, help="texts scored by the straightforward loop")
    parser.add_argument("--chunk", type=int, default=2_000, help="texts per task in the 2-process pool")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    t0 = time.perf_counter()
    texts = generate_texts(args.n, args.seed)
    gen_s = time.perf_counter() - t0
    naive_n = min(args.naive_n, args.n)
    chars = sum(len(t) for t in texts)
    print(
        f"texts: {args.n} generated in {gen_s:.1f}s, "
        f"mean {chars / max(1, args.n):.0f} chars; cpus: {os.cpu_count()}"
    )

    started, cpu_started = time.perf_counter(), time.process_time()
    naive = [score_direct(t) for t in texts[:naive_n]]
    naive_s = time.perf_counter() - started
    naive_cpu = time.process_time() - cpu_started
    naive_rate = naive_n / naive_s
    print(
        f"straightforward loop (fresh objects per item): {naive_n} items in {naive_s:.1f}s "
        f"= {naive_rate:.0f} items/s"
    )

    started, cpu_started = time.perf_counter(), time.process_time()
    scorer = Scorer()
    one = scorer.score_many(texts)
    one_s = time.perf_counter() - started
    one_cpu = time.process_time() - cpu_started
    one_rate = args.n / one_s
    print(f"Scorer, 1 process:  {args.n} items in {one_s:.1f}s = {one_rate:.0f} items/s")

    two, two_s, two_cpu, worker_mb = run_pool(texts, 2, args.chunk)
    two_rate = args.n / two_s
    print(f"Scorer, 2 processes: {args.n} items in {two_s:.1f}s = {two_rate:.0f} items/s")
    # on a shared machine wall time depends on the other load; CPU time shows the work per item
    print(
        f"CPU time: 1 process {one_cpu:.1f}s, 2 workers {two_cpu:.1f}s in total; "
        f"load average {os.getloadavg()}"
    )

    first = [{c: one[c][i].item() for c in AFFECT_COLUMNS} for i in range(naive_n)]
    equal_naive = all(same(a, b) for a, b in zip(naive, first, strict=True))
    equal_parallel = same_columns(one, two)
    figures = {
        "bench": "affect",
        "n": args.n,
        "naive_n": naive_n,
        "mean_chars": round(chars / max(1, args.n), 1),
        "naive_items_per_s": round(naive_rate, 1),
        "scorer_1proc_items_per_s": round(one_rate, 1),
        "scorer_2proc_items_per_s": round(two_rate, 1),
        "speedup_vs_naive_per_core": round(one_rate / naive_rate, 2),
        "speedup_second_core": round(two_rate / one_rate, 2),
        # CPU-time figures do not depend on what else runs on the machine
        "naive_items_per_cpu_s": round(naive_n / naive_cpu, 1),
        "scorer_items_per_cpu_s": round(args.n / one_cpu, 1),
        "speedup_vs_naive_per_cpu_s": round((args.n / one_cpu) / (naive_n / naive_cpu), 2),
        "cpu_s_1proc": round(one_cpu, 1),
        "cpu_s_2proc_workers": round(two_cpu, 1),
        "parallel_overhead_cpu": round(two_cpu / one_cpu - 1, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "identical_to_naive_on_sample": equal_naive,
        "identical_1proc_vs_2proc": equal_parallel,
        "peak_rss_mb_main": round(high_water_mb(), 1),
        "peak_rss_mb_worker": round(worker_mb, 1),
        "cpus": os.cpu_count(),
    }
    print(f"speed-up over the straightforward loop, per core: {figures['speedup_vs_naive_per_core']}x")
    print(f"speed-up from the second core: {figures['speedup_second_core']}x")
    print(f"identical scores: vs straightforward loop {equal_naive}, 1 vs 2 processes {equal_parallel}")
    print(
        f"peak RSS: main {figures['peak_rss_mb_main']} MB, largest worker {figures['peak_rss_mb_worker']} MB"
    )
    print(json.dumps(figures))
    if not (equal_naive and equal_parallel):
        sys.exit(1)


if __name__ == "__main__":
    main()

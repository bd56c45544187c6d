"""Benchmark: a Pushshift/Arctic Shift RC_ dump (.zst, --long=31) into lake partitions.

    python bench/ingest_dump.py                 # 2M comment lines (generated once, cached in --workdir)
    python bench/ingest_dump.py --lines 200000  # a small run

Measured in the same run, each in its own process so that peak memory is its own:

* ``zstd -dc --long=31 FILE > /dev/null``: the decompression limit;
* a plain Python loop: stream-decompress with zstandard, ``json.loads`` every line;
* ``pipeline.sources.reddit_dump.import_dump``: decompress, parse, map, validate, pseudonymise, write Parquet.

The lines are modelled on real 2024 Arctic Shift comment lines (the full field set of
../shared/realdata/reddit_pushshift_ndjson, body lengths drawn log-normally, Zipf-like subreddits and
authors), about 1.8 kB each. Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

TARGET_LINES_PER_S = 300_000
GENERATOR_VERSION = 1
WORDS = (
    "the a of to and in is it you that this for on was with are be have not but they my at what so if just "
    "like really think people would get one about all can your more when out do time there some because good "
    "how know them even me only also still lol yeah actually pretty much way make right now thing new game "
    "post sub"
).split()
TEMPLATE = {
    "_meta": {"retrieved_2nd_on": 1706875209},
    "all_awardings": [],
    "approved_at_utc": None,
    "approved_by": None,
    "archived": False,
    "associated_award": None,
    "author": "",
    "author_flair_background_color": None,
    "author_flair_css_class": None,
    "author_flair_richtext": [],
    "author_flair_template_id": None,
    "author_flair_text": None,
    "author_flair_text_color": None,
    "author_flair_type": "text",
    "author_fullname": "",
    "author_is_blocked": False,
    "author_patreon_flair": False,
    "author_premium": False,
    "awarders": [],
    "banned_at_utc": None,
    "banned_by": None,
    "body": "",
    "can_gild": False,
    "can_mod_post": False,
    "collapsed": False,
    "collapsed_because_crowd_control": None,
    "collapsed_reason": None,
    "collapsed_reason_code": None,
    "comment_type": None,
    "controversiality": 0,
    "created": 0.0,
    "created_utc": 0.0,
    "distinguished": None,
    "downs": 0,
    "edited": False,
    "gilded": 0,
    "gildings": {},
    "id": "",
    "is_submitter": False,
    "likes": None,
    "link_id": "",
    "locked": False,
    "mod_note": None,
    "mod_reason_by": None,
    "mod_reason_title": None,
    "mod_reports": [],
    "name": "",
    "no_follow": True,
    "num_reports": 0,
    "parent_id": "",
    "permalink": "",
    "removal_reason": None,
    "replies": "",
    "report_reasons": [],
    "retrieved_on": 0,
    "saved": False,
    "score": 0,
    "score_hidden": False,
    "send_replies": True,
    "stickied": False,
    "subreddit": "",
    "subreddit_id": "",
    "subreddit_name_prefixed": "",
    "subreddit_type": "public",
    "top_awarded_type": None,
    "total_awards_received": 0,
    "treatment_tags": [],
    "unrepliable_reason": None,
    "updated_on": 0,
    "ups": 0,
    "user_reports": [],
}


def b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def generate(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    subs = [f"{rng.choice(WORDS)}_{i}" for i in range(5_000)]
    authors = [f"user_{b36(rng.randrange(36**7))}" for _ in range(400_000)]
    start, span = 1704067200, 31 * 86_400
    first_id = int("kod0000", 36)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for i in range(lines):
            rec = dict(TEMPLATE)
            cid = b36(first_id + i)
            link = b36(int("1af0000", 36) + rng.randrange(300_000))
            sub = subs[min(int(rng.paretovariate(1.1)) - 1, len(subs) - 1)]
            created = float(start + i * span // lines)
            rec.update(
                id=cid,
                name=f"t1_{cid}",
                link_id=f"t3_{link}",
                parent_id=f"t3_{link}"
                if rng.random() < 0.45
                else f"t1_{b36(first_id + rng.randrange(i + 1))}",
                subreddit=sub,
                subreddit_id=f"t5_{b36(hash(sub) & 0xFFFFFF)}",
                subreddit_name_prefixed=f"r/{sub}",
                author=authors[min(int(rng.paretovariate(0.9)) - 1, len(authors) - 1)],
                author_fullname=f"t2_{b36(rng.randrange(36**6))}",
                body=" ".join(rng.choice(WORDS) for _ in range(int(rng.lognormvariate(2.8, 1.0)) + 1)),
                created=created,
                created_utc=created,
                retrieved_on=int(created) + 15,
                updated_on=int(created) + 30,
                score=int(rng.paretovariate(1.5)) - 1,
                permalink=f"/r/{sub}/comments/{link}/comment/{cid}/",
            )
            if rng.random() < 0.03:
                rec["author"], rec["body"] = "[deleted]", rng.choice(["[deleted]", "[removed]"])
            rec["ups"] = rec["score"]
            out.write(json.dumps(rec) + "\n")
    tmp.replace(path)


def prepare(workdir: Path, lines: int) -> tuple[Path, bool]:
    """The cached .zst input (generated and compressed once); whether the zstd CLI made it."""
    workdir.mkdir(parents=True, exist_ok=True)
    zst = workdir / f"RC_bench-v{GENERATOR_VERSION}-{lines}.zst"
    has_cli = shutil.which("zstd") is not None
    if not zst.exists():
        ndjson = workdir / f"RC_bench-v{GENERATOR_VERSION}-{lines}.ndjson"
        if not ndjson.exists():
            print(f"generating {lines:,} lines into {ndjson} ...", flush=True)
            generate(ndjson, lines)
        print(f"compressing with zstd --long=31 into {zst} ...", flush=True)
        if has_cli:
            subprocess.run(
                ["zstd", "-q", "-f", "--long=31", "-T2", "-10", str(ndjson), "-o", str(zst)], check=True
            )
        else:
            import zstandard

            params = zstandard.ZstdCompressionParameters.from_level(
                10, window_log=31, enable_ldm=True, threads=2
            )
            with open(ndjson, "rb") as src, open(zst, "wb") as dst:
                zstandard.ZstdCompressor(compression_params=params).copy_stream(src, dst)
        ndjson.unlink()
    return zst, has_cli


def _child_stats() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_measured(cmd: list[str], stdout: int | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one child process."""
    cpu_before, _ = _child_stats()
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=stdout, check=True, text=True)
    wall = time.perf_counter() - start
    cpu_after, _ = _child_stats()
    out = {"wall_s": wall, "cpu_s": cpu_after - cpu_before}
    if done.stdout:
        out.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


PYTHON_LOOP = """
import io, json, resource, sys, zstandard
n = 0
with open(sys.argv[1], 'rb') as fh:
    reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)
    for line in io.BufferedReader(reader, 1 << 20):
        json.loads(line)
        n += 1
print(json.dumps({"lines": n, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMPORT = """
import json, os, resource, sys
os.environ.setdefault("RIPPLE_PSEUDONYM_KEY", "bench-" + "0" * 32)
from pipeline.config import load_settings
from pipeline.sources.reddit_dump import import_dump
settings = load_settings(data_dir=sys.argv[2], environ={})
(result,) = import_dump(settings, [sys.argv[1]])
print(json.dumps({"lines": result.rows + result.quarantined, "rows": result.rows, "files": len(result.files),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

ZSTD_RSS = """
import resource, subprocess, sys
with open(sys.argv[2], 'wb') as sink:
    subprocess.run(["zstd", "-dc", "--long=31", sys.argv[1]], stdout=sink, check=True)
import json
print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines", type=int, default=2_000_000, help="comment lines in the generated RC_ file"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/ripple-bench-dump"), help="cache directory"
    )
    args = parser.parse_args(argv)

    zst, has_cli = prepare(args.workdir, args.lines)
    lines = args.lines
    print(f"input: {zst} ({zst.stat().st_size / 2**20:.1f} MiB compressed, {lines:,} lines)", flush=True)
    figures: dict[str, object] = {
        "bench": "ingest_dump",
        "lines": lines,
        "compressed_bytes": zst.stat().st_size,
    }

    if has_cli:
        zstd = run_measured([sys.executable, "-c", ZSTD_RSS, str(zst), os.devnull], stdout=subprocess.PIPE)
        figures["zstd_lines_per_s"] = round(lines / zstd["wall_s"])
        figures["zstd_peak_rss_mib"] = round(zstd["peak_rss_mib"])
        print(
            f"zstd -dc --long=31 > /dev/null : {lines / zstd['wall_s']:>12,.0f} lines/s "
            f"({zstd['wall_s']:.2f} s, peak {zstd['peak_rss_mib']:.0f} MiB)",
            flush=True,
        )
    else:
        figures["zstd_lines_per_s"] = None
        print("zstd CLI not found: decompression baseline skipped (apt-get install zstd)")

    loop = run_measured([sys.executable, "-c", PYTHON_LOOP, str(zst)], stdout=subprocess.PIPE)
    assert loop["lines"] == lines, loop
    figures["python_loop_lines_per_s"] = round(lines / loop["wall_s"])
    print(
        f"python loop (zstandard + json.loads): {lines / loop['wall_s']:>9,.0f} lines/s "
        f"({loop['wall_s']:.2f} s, {loop['cpu_s']:.2f} CPU s, peak {loop['peak_rss_mib']:.0f} MiB)",
        flush=True,
    )

    data_dir = args.workdir / "lake"
    shutil.rmtree(data_dir, ignore_errors=True)
    imported = run_measured([sys.executable, "-c", IMPORT, str(zst), str(data_dir)], stdout=subprocess.PIPE)
    assert imported["lines"] == lines, imported
    rate = lines / imported["wall_s"]
    figures.update(
        import_lines_per_s=round(rate),
        import_lines_per_cpu_s=round(lines / imported["cpu_s"]),
        import_wall_s=round(imported["wall_s"], 2),
        import_cpu_s=round(imported["cpu_s"], 2),
        import_peak_rss_mib=round(imported["peak_rss_mib"]),
        import_rows=imported["rows"],
        import_files=imported["files"],
        import_vs_python_loop=round(rate / figures["python_loop_lines_per_s"], 2),  # type: ignore[operator]
        target_lines_per_s=TARGET_LINES_PER_S,
        meets_target=rate >= TARGET_LINES_PER_S,
        load_average_1m=round(os.getloadavg()[0], 2),
        cores=os.cpu_count(),
    )
    if figures.get("zstd_lines_per_s"):
        figures["import_vs_zstd"] = round(rate / figures["zstd_lines_per_s"], 2)  # type: ignore[operator]
        # the decoder's window (2 GiB for a --long=31 frame over 2 GiB of text) is the format's, zstd's own
        # peak shows it; what ripple adds on top of it is what its block size and writer control
        figures["import_peak_over_zstd_mib"] = round(
            imported["peak_rss_mib"] - figures["zstd_peak_rss_mib"]  # type: ignore[operator]
        )
    print(
        f"ripple import_dump (fast path):     {rate:>9,.0f} lines/s "
        f"({imported['wall_s']:.2f} s, {imported['cpu_s']:.2f} CPU s, "
        f"peak {imported['peak_rss_mib']:.0f} MiB, {imported['files']} partitions)",
        flush=True,
    )
    if "import_peak_over_zstd_mib" in figures:
        print(f"  peak memory above zstd's own (its window): {figures['import_peak_over_zstd_mib']} MiB")
    print(
        f"  = {figures['import_vs_python_loop']}x the Python loop; target {TARGET_LINES_PER_S:,} lines/s: "
        f"{'met' if figures['meets_target'] else 'missed'} (1-min load average {figures['load_average_1m']})"
    )
    shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

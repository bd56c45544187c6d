"""Affect scoring: equality with direct library calls, junk input, emotions switch, incremental scoring."""

from __future__ import annotations

import contextlib
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nrclex import NRCLex
from textblob import TextBlob
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipeline import affect, scoring, textblob_fast, vader_fast
from pipeline.affect import score_lake
from pipeline.config import load_settings
from pipeline.schema import POSTS_SCHEMA
from pipeline.scoring import AFFECT_COLUMNS, Scorer, score_direct, text_for_scoring, tokenize

JUNK = [
    "",
    " ",
    "\n\n\t",
    "\x1c\x1d",
    "\x00\x01\x02 binary \xff\xfe",
    "\ud800 lone surrogate",
    "😀😡🔥",
    "!!! ??? ...",
    ":-) :( <3",
    "http://example.com/a?b=c www.example.org",
    "@someone @other",
    "12345 678",
    "Привет, мир! Это ужасно.",
    "東京は素晴らしい",
    "x" * 200_000,
    "angry " * 20_000,
]


def assert_same(a: dict, b: dict) -> None:
    for col in AFFECT_COLUMNS:
        x, y = a[col], b[col]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), col
        else:
            assert x == y, (col, x, y)


def test_text_for_scoring_joins_non_empty_parts_title_first():
    assert text_for_scoring("Title", "Body") == "Title\n\nBody"
    assert text_for_scoring(None, "Body") == "Body"
    assert text_for_scoring("Title", "") == "Title"
    assert text_for_scoring("  ", None) == ""


def test_the_sql_text_and_hash_equal_text_for_scoring_and_text_hash():
    """The lake scan prepares texts in DuckDB: every whitespace str.strip() knows, and only those, makes a part
    blank, and sha256 of the joined text is text_hash."""
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    others = ["a", "é", "\u200b", "\ufeff", "\u180e", "\x00", "\x1b", "\x7f", "😀", "Привет"]
    rng = random.Random(5)

    def part() -> str | None:
        if rng.random() < 0.15:
            return None
        pool = spaces + others if rng.random() < 0.5 else spaces
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, 4)))

    rows = [(i, part(), part()) for i in range(5000)]
    con = duckdb.connect()
    con.execute("create table t (i int, title varchar, text varchar)")
    con.executemany("insert into t values (?, ?, ?)", rows)
    expr = scoring.text_for_scoring_sql("title", "text")
    got = con.execute(f"select {expr}, sha256({expr}) from t order by i").fetchall()
    want = [(text_for_scoring(a, b), scoring.text_hash(text_for_scoring(a, b))) for _, a, b in rows]
    assert got == want
    assert sum(1 for text, _ in want if text == "") > 500  # blank parts were tried, and kept ones too
    assert sum(1 for text, _ in want if "\n\n" in text) > 100


def test_tokenize_keeps_words_and_drops_urls_handles_punctuation_emoji_numbers():
    toks = tokenize("@bob I'm SO angry!!! 😡 #Rage http://x.co/a www.bbc.co.uk :-) 2024 café")
    assert toks == ["i'm", "so", "angry", "rage", "café"]
    assert tokenize("😀😡🔥 !!! 123") == []


@pytest.mark.parametrize("text", JUNK, ids=range(len(JUNK)))
def test_junk_input_gives_defined_scores_equal_to_direct_calls(text):
    scorer = Scorer()
    row = scorer.score(text)
    assert set(row) == set(AFFECT_COLUMNS)
    assert all(not math.isnan(row[c]) for c in AFFECT_COLUMNS)
    assert_same(row, score_direct(text))


def test_blank_and_emoji_only_texts_have_zero_tokens_and_zero_rates():
    scorer = Scorer()
    for text in ("", "   ", "😀😡🔥"):
        row = scorer.score(text)
        assert row["n_tokens"] == 0
        assert row["arousal"] == 0.0
        assert all(row[f"nrc_{e}"] == 0.0 for e in scoring.EMOTIONS)


def test_emotions_off_gives_nan_emotion_columns_and_keeps_sentiment():
    row = Scorer(emotions=False).score("I am furious and terrified")
    assert all(math.isnan(row[c]) for c in scoring.EMOTION_COLUMNS)
    assert row["vader_neg"] > 0
    assert row["n_tokens"] == 5
    assert_same(row, score_direct("I am furious and terrified", emotions=False))


def test_score_many_returns_typed_columns_in_order():
    texts = ["I love this", "I hate this", ""]
    cols = Scorer().score_many(texts)
    assert list(cols) == list(AFFECT_COLUMNS)
    assert cols["n_tokens"].dtype == np.int64
    assert cols["vader_compound"].dtype == np.float64
    assert cols["vader_compound"][0] > 0 > cols["vader_compound"][1]
    assert cols["n_tokens"][2] == 0


# ------------------------------------------------------------------------------------- equality on real text

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
TEXT_KEYS = {"body", "selftext", "title", "text", "full_text"}


def _walk_texts(obj, out: list[str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in TEXT_KEYS and isinstance(value, str):
                out.append(value)
            else:
                _walk_texts(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _walk_texts(value, out)


def real_texts(limit: int) -> list[str]:
    """Unique post/comment/tweet texts from the recorded API responses (JSON, NDJSON, betamax cassettes)."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not available")
    out: list[str] = []
    for path in sorted(REALDATA.rglob("*.json*")):
        raw = path.read_text(encoding="utf-8", errors="replace")
        try:
            docs = [json.loads(raw)]
        except json.JSONDecodeError:
            docs = []
            for line in raw.splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    docs.append(json.loads(line))
        for doc in list(docs):
            if isinstance(doc, dict) and "interactions" in doc:  # betamax: bodies are JSON strings
                for it in doc["interactions"]:
                    with contextlib.suppress(KeyError, TypeError, json.JSONDecodeError):
                        docs.append(json.loads(it["response"]["body"]["string"]))
        for doc in docs:
            _walk_texts(doc, out)
    unique = list(dict.fromkeys(out))
    step = max(1, len(unique) // limit)
    return unique[::step][:limit]


def synthetic_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = (
        "i you we love hate angry furious scared afraid happy joy sad terrible wonderful surprise shocked "
        "trust honest vote election government people the a is not very never no but kind of LOL OMG wtf "
        "amazing awful disgusting war peace hope wait soon tomorrow kill death money bank crisis"
    ).split()
    extras = [
        "😡",
        "😂",
        "❤️",
        "🔥",
        "👍🏽",
        ":)",
        ":-(",
        "!!!",
        "?!",
        "#Brexit",
        "@someone",
        "https://t.co/xYz12",
        "www.example.com",
        "2024",
        "&amp;",
        "...",
        "—",
        "Привет",
        "東京",
        "\n",
        "\t",
    ]
    texts = []
    for _ in range(n):
        k = rng.choice([1, 3, 8, 20, 60, 200])
        toks = [rng.choice(words) if rng.random() < 0.8 else rng.choice(extras) for _ in range(k)]
        texts.append(" ".join(toks))
    return texts


def reference_scores(text: str, vader) -> dict:
    """The direct library calls; one stock VADER analyzer (its polarity_scores keeps no state)."""
    sentiment = TextBlob(text).sentiment
    vs = vader.polarity_scores(text)
    tokens = tokenize(text)
    n = len(tokens)
    nrc = NRCLex()
    nrc.load_token_list(tokens)
    row = {
        "tb_polarity": sentiment.polarity,
        "tb_subjectivity": sentiment.subjectivity,
        "vader_compound": vs["compound"],
        "vader_pos": vs["pos"],
        "vader_neu": vs["neu"],
        "vader_neg": vs["neg"],
        "n_tokens": n,
    }
    for e in scoring.EMOTIONS:
        row[f"nrc_{e}"] = nrc.raw_emotion_scores.get(e, 0) / n if n else 0.0
    high = set(scoring.HIGH_AROUSAL)
    row["arousal"] = (sum(1 for t in tokens if high & set(nrc.affect_dict.get(t, ()))) / n) if n else 0.0
    return row


def test_scores_equal_direct_library_calls_on_real_and_synthetic_texts():
    texts = real_texts(2500) + synthetic_texts(1500) + JUNK[:-2]
    assert len(texts) > 3000
    vader = SentimentIntensityAnalyzer()
    cols = Scorer().score_many(texts)
    for i, text in enumerate(texts):
        expected = reference_scores(text, vader)
        for col in AFFECT_COLUMNS:
            assert cols[col][i] == expected[col], (col, text[:80])


def test_fresh_library_objects_give_the_same_scores_as_the_cached_scorer():
    scorer = Scorer()
    for text in real_texts(60) + synthetic_texts(60, seed=3):
        assert_same(scorer.score(text), score_direct(text))


# every rule of VADER and TextBlob that the faster code paths re-state, plus tokenizer corner cases
ADVERSARIAL = [
    "not good",
    "isn't bad at all",
    "I don't like it, I hate it",
    "aint great, nor happy",
    "never so happy",
    "never this bad",
    "without doubt the best",
    "no problem",
    "no good, no",
    "No no no! NO",
    "no or nor good",
    "at least it was good",
    "least good idea",
    "very least bad",
    "the food was good but the service was awful",
    "good but bad but great",
    "but",
    "BUT it is GREAT",
    "it is GREAT!!!",
    "it is great!!!!!!!!",
    "great??",
    "great???? really?",
    "I am NOT HAPPY at all",
    "EXTREMELY good",
    "extremely GOOD",
    "ALL CAPS ONLY GOOD",
    "kind of nice",
    "sort of bad",
    "kinda awful",
    "barely good",
    "hardly bad",
    "really really really really good",
    "so so good",
    "yeah right",
    "kiss of death",
    "to die for",
    "the shit",
    "the bomb",
    "bad ass",
    "badass",
    "bus stop was bad",
    "beating heart",
    "cut the mustard",
    "😡😡 awful 😂",
    "❤️ love 👍🏽 🇬🇧 👨‍👩‍👧",
    "I ♥ NY :D XD xD :P ;) =) 8) :'( >.> o.O",
    "good (!) idea",
    "( ! ) sarcasm",
    "very very good!!!",
    "not very good",
    "really not good",
    "never really bad at all",
    "don't isn't I'd we'll they're you've",
    "DON'T won't can't",
    "e.g. etc. U.S.A. good.",
    "\"quoted good\" 'single' bad",
    "“smart” ‘quotes’ great",
    "a\r\n\r\nb great\n\n\nawful END-OF-SENTENCE bad",
    "ends with dots. . . and more. .start",
    "end.\n.start",
    "a . . . b",
    "&amp; &nbsp;x &lt;3 &#8230; &quot;great&quot;",
    "@user hi @bob!!!! great",
    "email me: foo@example.com, awful",
    "HTTP://EXAMPLE.COM/A WWW.FOO.COM/x ABC.COM great",
    "#Tag #123 ##Outrage #LoveIt",
    "Hi:D x8D <3<3",
    "Ünïcödé ÇA İstanbul ǅemal",
    "Это ужасно, но хорошо. C'est magnifique! 素晴らしい",
    "!!!!!! ?????? ......",
    "a!!!!b",
    "Mr. Smith. . . Dr. Who...",
    "http://a.com/x\x1cy z",
    "a\x1c b\u2028c\u00a0d\x85e",
    "",
    "   ",
]


def reference_tokens(text: str) -> list[str]:
    """tokenize() written out with the library tokenizer (lower-casing done by NLTK itself)."""
    import re

    import regex
    from nltk.tokenize.casual import URLS, TweetTokenizer

    tweet = TweetTokenizer(
        preserve_case=False, reduce_len=False, strip_handles=True, match_phone_numbers=False
    )
    url = regex.compile(URLS, regex.VERBOSE | regex.I | regex.UNICODE)
    out = []
    for t in tweet.tokenize(text) if text else []:
        t = t.lstrip("#") if t.startswith("#") else t
        if re.search(r"[^\W\d_]", t) and not url.fullmatch(t):
            out.append(t)
    return out


def test_tokenize_equals_the_library_tokenizer_on_real_synthetic_and_adversarial_texts():
    texts = real_texts(3000) + synthetic_texts(1000, seed=11) + ADVERSARIAL
    for text in texts:
        assert tokenize(text) == reference_tokens(text), text[:80]
    assert tokenize("ends with dots. . . and more") == ["ends", "with", "dots", "and", "more"]
    assert tokenize("I ♥ NY :D") == ["i", "ny", ":D"]  # the emoticon keeps its case, as in NLTK


def test_adversarial_texts_score_like_the_libraries():
    vader = SentimentIntensityAnalyzer()
    cols = Scorer().score_many(ADVERSARIAL)
    for i, text in enumerate(ADVERSARIAL):
        expected = reference_scores(text, vader)
        for col in AFFECT_COLUMNS:
            assert cols[col][i] == expected[col], (col, text)
    # the rules are exercised: these texts do move the scores
    by_text = {t: i for i, t in enumerate(ADVERSARIAL)}
    assert (
        cols["vader_compound"][by_text["not good"]] < 0 < cols["vader_compound"][by_text["isn't bad at all"]]
    )
    assert cols["vader_compound"][by_text["it is great!!!!!!!!"]] > cols["vader_compound"][by_text["great??"]]
    assert cols["tb_polarity"][by_text["not good"]] < 0


def test_every_real_text_gets_the_library_sentiment():
    """VADER and TextBlob re-stated in pipeline/vader_fast.py and pipeline/textblob_fast.py, on all real texts."""
    texts = real_texts(100_000)
    assert len(texts) > 5000
    vader = SentimentIntensityAnalyzer()
    cols = Scorer().score_many(texts)
    for i, text in enumerate(texts):
        text = Scorer.prepare(text)
        vs = vader.polarity_scores(text)
        sentiment = TextBlob(text).sentiment
        got = (cols["vader_compound"][i], cols["vader_pos"][i], cols["vader_neu"][i], cols["vader_neg"][i])
        assert got == (vs["compound"], vs["pos"], vs["neu"], vs["neg"]), text[:80]
        assert (cols["tb_polarity"][i], cols["tb_subjectivity"][i]) == tuple(sentiment), text[:80]


def test_scores_stay_equal_when_the_per_word_tables_are_warm_or_cleared(monkeypatch):
    texts = synthetic_texts(300, seed=5) + ADVERSARIAL
    vader = SentimentIntensityAnalyzer()
    expected = [reference_scores(t, vader) for t in texts]
    scorer = Scorer()
    scorer.score_many(texts)  # warm
    # tables cleared over and over
    monkeypatch.setattr(scoring, "_MAX_UNITS", 5)
    monkeypatch.setattr(vader_fast, "_MAX_WORDS", 5)
    monkeypatch.setattr(textblob_fast, "_MAX_CHUNKS", 5)
    for cols in (scorer.score_many(texts), Scorer().score_many(texts)):
        for i, row in enumerate(expected):
            for col in AFFECT_COLUMNS:
                assert cols[col][i] == row[col], (col, texts[i][:80])


@pytest.mark.slow
def test_affect_benchmark_runs_at_a_tiny_size():
    """Beyond tests/unit/test_bench.py: the sets' sizes and the equality flags of the benchmark's JSON line."""
    import importlib.util
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "affect.py"), "--n", "150", "--chunk", "100"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    spec = importlib.util.spec_from_file_location("bench_affect", root / "bench" / "affect.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert figures["generated"]["texts"] == len(set(bench.generate_texts(150, 42)))
    assert figures["generated"]["identical_to_loop"] is True
    assert set(figures["generated"]["loop_seconds"]) == {"textblob", "vader", "tokenize", "nrc"}
    assert figures["processes"]["identical_1_vs_2"] is True
    if REALDATA.is_dir():
        assert figures["real"]["texts"] == 150 and figures["real"]["identical_to_loop"] is True
        assert figures["real_with_duplicates"]["items"] == 150
        assert figures["real_with_duplicates"]["distinct"] < 150


# ------------------------------------------------------------------------------------- lake integration


def write_posts(settings, platform: str, day: str, name: str, rows: list[dict]) -> None:
    base = datetime(2026, 11, 2, 12, tzinfo=UTC)
    defaults = {
        "kind": "post",
        "share_type": None,
        "community": "r/test",
        "author_id": "a1",
        "author_name": None,
        "parent_id": None,
        "root_id": None,
        "shared_id": None,
        "created_at": base,
        "title": None,
        "text": None,
        "url": None,
        "lang": None,
        "score": 1,
        "reply_count": 0,
        "share_count": 0,
        "is_deleted": False,
        "is_removed": False,
        "fetched_at": base,
        "run_id": name,
        "source": "test",
    }
    schema = pa.schema([f for f in POSTS_SCHEMA if f.name != "platform"])
    table = pa.Table.from_pylist([{**defaults, **r} for r in rows], schema=schema)
    path = settings.posts_dir / f"platform={platform}" / f"date={day}" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_affect(settings) -> pa.Table:
    files = sorted(affect.affect_dir(settings).glob("scorer=*/*.parquet"))
    if not files:
        return pa.table({})
    return pa.concat_tables(pq.read_table(f, schema=affect.AFFECT_ARROW_SCHEMA) for f in files)


@pytest.fixture
def lake(tmp_path):
    settings = load_settings(
        data_dir=tmp_path, environ={}, overrides={"affect": {"processes": 1, "batch_size": 2}}
    )
    t0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
    write_posts(
        settings,
        "reddit",
        "2026-11-02",
        "run1",
        [
            {"post_id": "reddit:t3_a", "title": "Furious!", "text": "I am so angry about this"},
            {"post_id": "reddit:t1_b", "text": "What a wonderful surprise", "kind": "comment"},
            {"post_id": "reddit:t1_c", "text": "same words", "kind": "comment"},
            {"post_id": "reddit:t1_d", "text": "same words", "kind": "comment"},
            {"post_id": "reddit:t1_e", "text": "  ", "kind": "comment"},
            {"post_id": "reddit:t1_f", "text": "[deleted]", "is_deleted": True, "kind": "comment"},
        ],
    )
    # a later fetch of t1_b with edited text: the latest fetch wins
    write_posts(
        settings,
        "reddit",
        "2026-11-02",
        "run2",
        [
            {
                "post_id": "reddit:t1_b",
                "text": "What a terrible shock",
                "kind": "comment",
                "fetched_at": t0 + timedelta(hours=5),
            }
        ],
    )
    write_posts(settings, "x", "2026-11-03", "run1", [{"post_id": "x:1", "text": "trust me, it is fine 👍"}])
    return settings


def test_score_lake_scores_latest_text_of_each_post_once(lake):
    seen: list[tuple[int, int]] = []
    result = score_lake(lake, progress=lambda done, total: seen.append((done, total)))
    assert result["candidates"] == 5
    assert result["scored"] == 5
    assert result["texts_scored"] == 4  # t1_c and t1_d share their text
    assert result["skipped_deleted"] == 1
    assert result["skipped_no_text"] == 1
    assert result["failed"] == 0
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)

    table = read_affect(lake)
    rows = {r["post_id"]: r for r in table.to_pylist()}
    assert sorted(rows) == ["reddit:t1_b", "reddit:t1_c", "reddit:t1_d", "reddit:t3_a", "x:1"]
    scorer = Scorer()
    for pid, text in [
        ("reddit:t3_a", "Furious!\n\nI am so angry about this"),
        ("reddit:t1_b", "What a terrible shock"),
        ("x:1", "trust me, it is fine 👍"),
    ]:
        assert rows[pid]["text_hash"] == scoring.text_hash(text)
        expected = scorer.score(text)
        assert {c: rows[pid][c] for c in AFFECT_COLUMNS} == expected
    assert rows["reddit:t1_c"]["scorer_version"] == scoring.SCORER_VERSION
    # no temporary files or spill directories left behind
    leftovers = [p for p in affect.affect_dir(lake).rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_texts_shared_by_many_posts_are_split_into_bounded_batches(tmp_path, monkeypatch):
    """A batch holds at most MAX_BATCH_POSTS posts: a text shared by more posts (reposts) is scored in several
    batches, every post gets its score once, and the text counts once."""
    monkeypatch.setattr(affect, "MAX_BATCH_POSTS", 4)
    settings = load_settings(
        data_dir=tmp_path, environ={}, overrides={"affect": {"processes": 1, "batch_size": 3}}
    )
    rows = [{"post_id": f"x:{i:02d}", "text": "the same angry repost"} for i in range(11)]
    rows += [{"post_id": f"x:u{i}", "text": f"unique text number {i}"} for i in range(3)]
    write_posts(settings, "x", "2026-11-03", "run1", rows)
    result = score_lake(settings)
    assert (result["candidates"], result["scored"], result["texts_scored"]) == (14, 14, 4)
    table = read_affect(settings)
    assert sorted(table.column("post_id").to_pylist()) == sorted(r["post_id"] for r in rows)
    files = sorted(affect.affect_dir(settings).glob("scorer=*/*.parquet"))
    assert max(pq.read_metadata(f).num_rows for f in files) == 4
    assert result["files_written"] == len(files) >= 4
    expected = Scorer().score("the same angry repost")
    shared = [
        r for r in table.to_pylist() if r["post_id"].startswith("x:0") or r["post_id"].startswith("x:1")
    ]
    assert len(shared) == 11 and all({c: r[c] for c in AFFECT_COLUMNS} == expected for r in shared)


def test_split_batch_keeps_texts_in_order_and_marks_continued_ones():
    parts = list(affect._split_batch(["a", "b", "c"], ["ha", "hb", "hc"], [2, 7, 1], limit=4))
    assert [(p.texts, p.lengths, p.start, p.continues) for p in parts] == [
        (["a", "b"], [2, 2], 0, False),
        (["b"], [4], 4, True),
        (["b", "c"], [1, 1], 8, True),
    ]


def test_score_lake_is_incremental(lake):
    first = score_lake(lake)
    assert (first["whole_lake"], first["whole_lake_reason"]) == (True, "no earlier scoring run on record")
    assert (first["posts_files"], first["posts_files_considered"]) == (3, 3)
    second = score_lake(lake)
    # nothing new in the lake: the run considers no file and reads no post
    assert (second["whole_lake"], second["posts_files_considered"]) == (False, 0)
    assert second["candidates"] == second["scored"] == second["reused"] == 0
    assert second["files_written"] == 0

    # a new post with known text reuses the score; an edited post is scored again
    later = datetime(2026, 11, 4, tzinfo=UTC)
    write_posts(
        lake,
        "reddit",
        "2026-11-04",
        "run3",
        [
            {"post_id": "reddit:t1_g", "text": "same words", "kind": "comment"},
            {"post_id": "reddit:t3_a", "title": "Furious!", "text": "calm now", "fetched_at": later},
        ],
    )
    third = score_lake(lake)
    # only the posts of the new file are considered: one copied score, one new score, nothing else skipped
    assert third["posts_files_considered"] == 1
    assert (third["reused"], third["scored"], third["skipped_already_scored"]) == (1, 1, 0)
    assert read_affect(lake).num_rows == 7


def latest_texts_by_hand(settings) -> dict[str, str]:
    """post_id -> text_hash of the current text of every post that should have a score, from the lake files read
    with pyarrow and the rule of docs/affect.md (latest fetched_at, ties to the later run_id) applied in Python."""
    latest: dict[str, dict] = {}
    for path in settings.posts_dir.glob("platform=*/date=*/*.parquet"):
        for row in pq.read_table(path).to_pylist():
            key = (row["fetched_at"], row["run_id"])
            if row["post_id"] not in latest or key > (
                latest[row["post_id"]]["fetched_at"],
                latest[row["post_id"]]["run_id"],
            ):
                latest[row["post_id"]] = row
    out = {}
    for pid, row in latest.items():
        text = text_for_scoring(row["title"], row["text"])
        if text and not row["is_deleted"] and not row["is_removed"]:
            out[pid] = scoring.text_hash(text)
    return out


def latest_scores(settings) -> dict[str, str]:
    rows = sorted(read_affect(settings).to_pylist(), key=lambda r: r["scored_at"])
    return {r["post_id"]: r["text_hash"] for r in rows}


def test_a_run_that_considers_the_new_files_only_leaves_every_current_text_scored(lake):
    score_lake(lake)
    later = datetime(2026, 11, 4, tzinfo=UTC)
    earlier = datetime(2026, 11, 1, tzinfo=UTC)
    write_posts(
        lake,
        "reddit",
        "2026-11-04",
        "run3",
        [
            # a backfilled older version: the later fetch in run2 stays the current one, nothing to score
            {"post_id": "reddit:t1_b", "text": "an old draft", "kind": "comment", "fetched_at": earlier},
            # re-fetched with the same text: already scored
            {"post_id": "reddit:t1_c", "text": "same words", "kind": "comment", "fetched_at": later},
            # edited: scored again
            {"post_id": "x:1", "text": "not fine at all, this is a disaster", "fetched_at": later},
            # deleted since: no score needed
            {
                "post_id": "reddit:t1_d",
                "text": "[deleted]",
                "is_deleted": True,
                "kind": "comment",
                "fetched_at": later,
            },
            # a post whose text used to be blank
            {"post_id": "reddit:t1_e", "text": "now with words", "kind": "comment", "fetched_at": later},
        ],
    )
    result = score_lake(lake)
    assert (result["whole_lake"], result["posts_files_considered"], result["posts_files"]) == (False, 1, 4)
    assert (result["candidates"], result["skipped_already_scored"], result["skipped_deleted"]) == (2, 1, 1)
    expected = latest_texts_by_hand(lake)
    scores = latest_scores(lake)
    assert {pid: scores.get(pid) for pid in expected} == expected
    # the same lake considered whole, from a copy without the record, scores nothing more
    (lake.state_dir / affect.CONSIDERED_RECORD).unlink()
    again = score_lake(lake)
    assert again["whole_lake"] and (again["candidates"], again["scored"]) == (0, 0)


def test_a_changed_posts_file_or_a_lost_affect_file_makes_the_run_consider_the_whole_lake(lake):
    score_lake(lake)
    # a posts file rewritten in place (as ripple purge does): its version changes
    write_posts(lake, "x", "2026-11-03", "run1", [{"post_id": "x:1", "text": "trust me, it is fine 👍"}])
    changed = score_lake(lake)
    assert changed["whole_lake"]
    assert changed["whole_lake_reason"] == "1 posts file(s) considered before were changed or removed"
    assert changed["scored"] == 0 and changed["skipped_already_scored"] == 5

    # an affect file removed by hand: its posts are scored again
    lost = sorted(affect.affect_dir(lake).glob("scorer=*/*.parquet"))[0]
    lost_ids = set(pq.read_table(lost).column("post_id").to_pylist())
    lost.unlink()
    result = score_lake(lake)
    assert result["whole_lake_reason"] == "1 affect file(s) of the scores on record are gone"
    assert result["scored"] + result["reused"] == len(lost_ids)
    assert set(latest_scores(lake)) == set(latest_texts_by_hand(lake))


def test_a_run_with_failures_keeps_the_record_so_the_next_run_retries(lake, monkeypatch):
    score_lake(lake)
    record = (lake.state_dir / affect.CONSIDERED_RECORD).read_text()
    write_posts(lake, "x", "2026-11-05", "run4", [{"post_id": "x:2", "text": "this one breaks the scorer"}])
    real = Scorer.score

    def flaky(self, text):
        if "breaks" in text:
            raise RuntimeError("boom")
        return real(self, text)

    monkeypatch.setattr(Scorer, "score", flaky)
    failed = score_lake(lake)
    assert failed["failed"] == 1
    assert (lake.state_dir / affect.CONSIDERED_RECORD).read_text() == record
    monkeypatch.setattr(Scorer, "score", real)
    retried = score_lake(lake)
    assert (retried["posts_files_considered"], retried["scored"]) == (1, 1)
    assert "x:2" in latest_scores(lake)


def test_scorer_version_bump_rescores_everything_and_drops_the_old_version(lake, monkeypatch):
    score_lake(lake)
    monkeypatch.setattr(scoring, "SCORER_VERSION", "999")
    result = score_lake(lake)
    assert result["scored"] == 5
    assert result["files_removed"] >= 1
    table = read_affect(lake)
    assert set(table.column("scorer_version").to_pylist()) == {"999"}
    assert [p.name for p in affect.affect_dir(lake).iterdir()] == ["scorer=999"]


def test_rescore_replaces_files_of_the_current_version(lake):
    score_lake(lake)
    result = affect.rescore(lake)
    assert result["scored"] == 5 and result["reused"] == 0
    assert read_affect(lake).num_rows == 5


def test_emotions_off_writes_null_emotions_under_its_own_version(lake):
    score_lake(lake)
    lake.section("affect")["emotions"] = False
    result = score_lake(lake)
    assert result["scorer_version"] == f"{scoring.SCORER_VERSION}-noemotions"
    assert result["scored"] == 5
    table = read_affect(lake)
    assert table.num_rows == 5
    for col in scoring.EMOTION_COLUMNS:
        assert table.column(col).null_count == 5
    assert table.column("vader_compound").null_count == 0


def test_affect_disabled_does_nothing(lake):
    lake.section("affect")["enabled"] = False
    assert score_lake(lake)["enabled"] is False
    assert not affect.affect_dir(lake).exists()


def test_empty_lake_gives_zero_counts(tmp_path):
    settings = load_settings(data_dir=tmp_path, environ={})
    result = score_lake(settings)
    assert result["candidates"] == 0 and result["scored"] == 0


def test_score_lake_with_two_worker_processes(lake):
    lake.section("affect")["processes"] = 2
    lake.section("affect")["batch_size"] = 1
    result = score_lake(lake)
    assert result["scored"] == 5 and result["failed"] == 0
    assert result["files_written"] == 4
    single = Scorer()
    for row in read_affect(lake).to_pylist():
        if row["post_id"] == "x:1":
            assert {c: row[c] for c in AFFECT_COLUMNS} == single.score("trust me, it is fine 👍")


# ------------------------------------------------------------------------------------- SQL models


def run_model(con, path: Path) -> None:
    sql = path.read_text()
    con.execute(f"create or replace view {path.stem} as {sql}")


def test_stg_and_fct_affect_give_one_row_per_post_of_the_latest_scorer(lake, monkeypatch):
    score_lake(lake)
    write_posts(
        lake,
        "reddit",
        "2026-11-04",
        "run3",
        [
            {
                "post_id": "reddit:t1_b",
                "text": "edited again",
                "kind": "comment",
                "fetched_at": datetime(2026, 11, 5, tzinfo=UTC),
            },
            {  # deleted upstream since it was scored: its scores leave the mart
                "post_id": "reddit:t1_c",
                "text": "[deleted]",
                "kind": "comment",
                "is_deleted": True,
                "fetched_at": datetime(2026, 11, 5, tzinfo=UTC),
            },
        ],
    )
    score_lake(lake)
    sql_dir = Path(__file__).resolve().parents[2] / "sql"
    con = duckdb.connect()
    affect_files = affect.affect_dir(lake) / "**" / "*.parquet"
    con.execute(
        f"""
        create view src_affect as
        select * from read_parquet('{affect_files}', hive_partitioning = true, union_by_name = true)
        """
    )
    post_files = lake.posts_dir / "**" / "*.parquet"
    con.execute(
        f"""
        create view stg_posts as
        select * from read_parquet('{post_files}', hive_partitioning = true, union_by_name = true)
        qualify row_number() over (partition by post_id order by fetched_at desc) = 1
        """
    )
    run_model(con, sql_dir / "staging" / "stg_affect.sql")
    run_model(con, sql_dir / "marts" / "fct_affect.sql")
    rows = con.execute(
        "select post_id, platform, kind, text_hash from fct_affect order by post_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["reddit:t1_b", "reddit:t1_d", "reddit:t3_a", "x:1"]
    assert dict((r[0], r[3]) for r in rows)["reddit:t1_b"] == scoring.text_hash("edited again")
    assert dict((r[0], r[1]) for r in rows)["x:1"] == "x"

    # the mart header documents every column it returns
    header = [
        ln for ln in (sql_dir / "marts" / "fct_affect.sql").read_text().splitlines() if ln.startswith("--")
    ]
    assert header[0].startswith("-- grain: one row per ")
    assert header[1].startswith("-- description: ")
    documented = [ln.split()[2].rstrip(":") for ln in header[2:] if ln.startswith("-- column ")]
    assert documented == [d[0] for d in con.execute("select * from fct_affect limit 0").description]

    # an empty table with the affect schema works as src_affect too
    con.execute("drop view src_affect")
    con.register("empty_affect", affect.AFFECT_ARROW_SCHEMA.empty_table())
    con.execute("create table src_affect as select * from empty_affect")
    assert con.execute("select count(*) from fct_affect").fetchone()[0] == 0

"""The built-in demo source: a seeded simulator of a multi-community platform.

It exists so that the whole pipeline has realistic input without the internet, and so that the analytic models can
be checked against known truth. What it plants (see docs/sources/demo.md):

* 12 communities of different sizes. Members of a community are users who have it as their home or as a second
  community; six pairs of communities share members on purpose (``PLANTED_OVERLAP``, strong / medium / weak),
  every other pair only by chance (a 3% background rate of random second memberships).
* Users with heavy-tailed (Pareto, alpha 1.6) activity.
* Posts whose text carries emotion: sentences built from NRC EmoLex words of each emotion, which VADER and
  TextBlob also respond to, mixed with neutral sentences.
* Reply trees of varied depth (a branching process, plus occasional long back-and-forth chains).
* Escape: with probability ``sigmoid(intercept + sum(beta_k * z_k))`` a post is shared into one or more other
  communities, where it collects replies from that community's members. ``z_k`` are ripple's own affect scores of
  the post's text (``pipeline.affect``), standardized with the mean and standard deviation of the posts the
  simulator draws; ``PLANTED_EFFECTS`` gives the betas. Everything else (size of the reply tree, timing, which
  users reply) is independent of emotion, so the effects are exactly recoverable by the explanation model.

The items of a window are a pure function of (seed, scale, window): each day's posts and their whole cascades are
generated from a random stream keyed by (seed, day), and an item is emitted by the window that contains its
``created_at``. A cascade lasts at most ``MAX_CASCADE_HOURS``, so a window regenerates the days just before it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import Settings
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject

PLATFORM = "demo"
MAX_CASCADE_HOURS = 72
# roots per day at scale 1.0; with the tree sizes below this gives about 50k items over 30 days
ROOTS_PER_DAY = 185
USERS_PER_SCALE = 6_000
ROOTS_PER_PAGE = 250

# name, relative popularity
COMMUNITIES: tuple[tuple[str, float], ...] = (
    ("c/technology", 1.00),
    ("c/programming", 0.80),
    ("c/science", 0.70),
    ("c/space", 0.50),
    ("c/politics", 0.90),
    ("c/worldnews", 0.85),
    ("c/movies", 0.60),
    ("c/books", 0.45),
    ("c/gaming", 0.75),
    ("c/music", 0.55),
    ("c/cooking", 0.40),
    ("c/fitness", 0.35),
)

# community a, community b, probability that a member whose home is a or b is also a member of the other, label
PLANTED_OVERLAP: tuple[tuple[str, str, float, str], ...] = (
    ("c/programming", "c/technology", 0.45, "strong"),
    ("c/science", "c/space", 0.40, "strong"),
    ("c/politics", "c/worldnews", 0.40, "strong"),
    ("c/books", "c/movies", 0.25, "medium"),
    ("c/gaming", "c/music", 0.20, "medium"),
    ("c/cooking", "c/fitness", 0.12, "weak"),
)
BACKGROUND_SECOND_MEMBERSHIP = 0.03

# log-odds of escaping per standard deviation of ripple's own affect score
PLANTED_EFFECTS: dict[str, float] = {
    "nrc_anger": 0.60,
    "nrc_surprise": 0.45,
    "nrc_trust": -0.35,
}
BASE_ESCAPE_RATE = 0.15

TOPICS = {
    "c/technology": ["the new phone", "the chip shortage", "the software update", "the smart home hub"],
    "c/programming": ["the compiler release", "the code review", "the framework migration", "the test suite"],
    "c/science": ["the lab results", "the new study", "the research grant", "the climate data"],
    "c/space": ["the rocket launch", "the mars rover", "the telescope images", "the orbital station"],
    "c/politics": ["the election", "the new bill", "the senate vote", "the campaign"],
    "c/worldnews": ["the summit", "the border talks", "the trade deal", "the flood relief"],
    "c/movies": ["the sequel", "the film festival", "the director's cut", "the box office"],
    "c/books": ["the novel", "the book club pick", "the author interview", "the library sale"],
    "c/gaming": ["the patch notes", "the tournament", "the console launch", "the game studio"],
    "c/music": ["the album", "the concert tour", "the festival lineup", "the new single"],
    "c/cooking": ["the recipe", "the bakery", "the restaurant review", "the spice market"],
    "c/fitness": ["the marathon", "the gym routine", "the training plan", "the protein diet"],
}

# candidate words per emotion; only those that NRC EmoLex associates with the emotion are used
EMOTION_WORDS: dict[str, list[str]] = {
    "anger": [
        "angry",
        "furious",
        "outrage",
        "rage",
        "hate",
        "hostile",
        "fury",
        "violent",
        "unfair",
        "cheat",
        "liar",
        "scandal",
        "resentment",
        "annoyed",
        "insult",
        "betray",
        "brutal",
        "abuse",
    ],
    "fear": [
        "afraid",
        "scared",
        "terrified",
        "panic",
        "danger",
        "threat",
        "horror",
        "anxiety",
        "alarming",
        "crisis",
        "nightmare",
        "risk",
        "disaster",
        "dread",
        "warning",
    ],
    "joy": [
        "happy",
        "delighted",
        "wonderful",
        "love",
        "celebrate",
        "cheerful",
        "joy",
        "beautiful",
        "excellent",
        "fun",
        "blessed",
        "smile",
        "delight",
        "pleasant",
    ],
    "sadness": [
        "sad",
        "heartbroken",
        "grief",
        "lonely",
        "tragic",
        "mourn",
        "depressed",
        "loss",
        "miserable",
        "sorrow",
        "gloomy",
        "regret",
    ],
    "surprise": [
        "surprise",
        "shocking",
        "unexpected",
        "amazing",
        "astonishing",
        "sudden",
        "stunned",
        "miracle",
        "wonder",
        "bombshell",
        "unbelievable",
        "whirlwind",
    ],
    "trust": [
        "trust",
        "honest",
        "reliable",
        "faith",
        "loyal",
        "credible",
        "expert",
        "truth",
        "sincere",
        "respect",
        "dependable",
        "integrity",
    ],
    "anticipation": [
        "expect",
        "hope",
        "eager",
        "await",
        "prepare",
        "excitement",
        "countdown",
        "anticipation",
        "plan",
        "ready",
        "tomorrow",
    ],
    "disgust": [
        "disgusting",
        "gross",
        "vile",
        "awful",
        "nasty",
        "revolting",
        "rotten",
        "filthy",
        "repulsive",
        "sickening",
        "slime",
    ],
}

EMOTION_TEMPLATES: dict[str, list[str]] = {
    "anger": [
        "I am {w} about {t}.",
        "This is {w}, {t} went too far.",
        "So much {w} over {t} today.",
        "Honestly {t} makes me {w}.",
    ],
    "fear": [
        "I am {w} about what {t} means for us.",
        "There is real {w} around {t}.",
        "Everyone is {w} after {t}.",
    ],
    "joy": ["What a {w} day for {t}!", "So {w} to see {t} finally.", "Pure {w} watching {t}."],
    "sadness": ["It is {w} how {t} ended.", "Feeling {w} after {t}.", "A {w} week because of {t}."],
    "surprise": ["Totally {w} news about {t}.", "{t} was a {w} turn.", "Nobody saw {t} coming, {w}."],
    "trust": ["An {w} source confirms {t}.", "You can {w} the team behind {t}.", "{t} has my {w}."],
    "anticipation": ["Cannot wait, I {w} {t} soon.", "Full of {w} for {t}.", "We {w} the next step for {t}."],
    "disgust": ["{t} is {w}.", "Honestly {w} behaviour around {t}.", "What a {w} mess {t} turned into."],
}
NEUTRAL_SENTENCES = [
    "Here is a summary of {t}.",
    "The thread from yesterday about {t} has more details.",
    "Posting this for the weekly roundup on {t}.",
    "Some numbers on {t} are in the link.",
    "Has anyone looked at {t} yet?",
    "Notes from the meeting about {t}.",
]
COMMENT_SENTENCES = [
    "Agreed.",
    "Source?",
    "Not sure about that.",
    "This is {w}.",
    "Really {w}.",
    "{w}, honestly.",
    "Good point.",
    "Thanks for posting.",
    "I disagree.",
    "Same here.",
    "Can you explain?",
    "Ha, {w}.",
]
DOMAINS = [
    "news.example.com",
    "blog.example.org",
    "video.example.net",
    "papers.example.edu",
    "shop.example.com",
]
POOL_PER_COMMUNITY = 400

# the planted burst (docs/sources/demo.md, "Planted burst"): in every BURST_PERIOD_WEEKS-th ISO week, BURST_COMMUNITY
# gets BURST_ROOTS_PER_DAY x scale extra posts a day (with their cascades), about four times its usual number
BURST_COMMUNITY = "c/cooking"
BURST_PERIOD_WEEKS = 8
BURST_PHASE = 3
BURST_ROOTS_PER_DAY = 40
BURST_STREAM = 0xB0057


def is_burst_week(day: date) -> bool:
    """Whether ``day`` lies in a burst week: ISO weeks counted from 0001-W01, every ``BURST_PERIOD_WEEKS``-th."""
    week_index = (day.toordinal() - 1) // 7  # date(1, 1, 1) is a Monday
    return week_index % BURST_PERIOD_WEEKS == BURST_PHASE


def _id_factory(root_id: str) -> Callable[[], str]:
    """Ids of a cascade's items: the root's id plus a running number."""
    numbers = itertools.count(1)
    return lambda: f"{root_id}n{next(numbers):05d}"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class World:
    """Everything that depends on the seed only: users, memberships and the text pools with their scores."""

    seed: int
    scale: float
    activity: np.ndarray  # per user
    members: list[np.ndarray]  # per community: user indices
    member_cdf: list[np.ndarray]  # per community: cumulative activity weights
    both: dict[tuple[int, int], np.ndarray]  # users in both communities of a pair
    community_cdf: np.ndarray
    pool_titles: list[list[str]]
    pool_texts: list[list[str]]
    pool_escape_logit: list[np.ndarray]
    feature_mean: dict[str, float]
    feature_sd: dict[str, float]
    intercept: float
    comment_pool: list[str]


def _emotion_vocab() -> dict[str, list[str]]:
    from nrclex import NRCLex

    vocab: dict[str, list[str]] = {}
    for emotion, words in EMOTION_WORDS.items():
        kept = []
        for word in words:
            lexicon = NRCLex()
            lexicon.load_token_list([word])
            if lexicon.raw_emotion_scores.get(emotion):
                kept.append(word)
        vocab[emotion] = kept or words
    return vocab


def _memberships(rng: np.random.Generator, n_users: int) -> tuple[np.ndarray, list[list[tuple[int, float]]]]:
    """Each user's activity and the (user, weight) members of every community: home, planted partners, noise."""
    n_comm = len(COMMUNITIES)
    # Pareto(1.6) activity, capped so one user cannot dominate a small world
    activity = np.minimum((1.0 - rng.random(n_users)) ** (-1.0 / 1.6), 400.0)
    popularity = np.array([p for _, p in COMMUNITIES])
    home = rng.choice(n_comm, size=n_users, p=popularity / popularity.sum())
    index = {c: i for i, (c, _) in enumerate(COMMUNITIES)}
    partner: dict[int, list[tuple[int, float]]] = {i: [] for i in range(n_comm)}
    for a, b, prob, _label in PLANTED_OVERLAP:
        partner[index[a]].append((index[b], prob))
        partner[index[b]].append((index[a], prob))
    membership: list[list[tuple[int, float]]] = [[] for _ in range(n_comm)]
    draws = rng.random((n_users, 3))
    random_other = rng.integers(0, n_comm, size=n_users)
    for user in range(n_users):
        h = int(home[user])
        membership[h].append((user, 1.0))
        for other, prob in partner[h]:
            if draws[user, 0] < prob:
                membership[other].append((user, 0.6))
        if draws[user, 1] < BACKGROUND_SECOND_MEMBERSHIP and random_other[user] != h:
            membership[int(random_other[user])].append((user, 0.4))
    return activity, membership


def _member_arrays(
    membership: list[list[tuple[int, float]]], activity: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """Per community its members and their cumulative activity weights; per community pair the shared members."""
    members, member_cdf, member_sets = [], [], []
    for entries in membership:
        users = np.array([u for u, _ in entries], dtype=np.int64)
        weights = np.array([w for _, w in entries]) * activity[users]
        members.append(users)
        member_cdf.append(np.cumsum(weights) / weights.sum())
        member_sets.append(set(users.tolist()))
    both = {}
    for i in range(len(membership)):
        for j in range(len(membership)):
            if i != j:
                both[(i, j)] = np.array(sorted(member_sets[i] & member_sets[j]), dtype=np.int64)
    return members, member_cdf, both


def _pool_text(rng: np.random.Generator, topic: str, vocab: dict[str, list[str]]) -> str:
    """0-3 emotional sentences from 1-2 emotions and 1-3 neutral ones about ``topic``, shuffled."""
    emotions_list = list(EMOTION_TEMPLATES)
    sentences = []
    chosen = rng.choice(len(emotions_list), size=rng.integers(1, 3), replace=False)
    for _ in range(rng.integers(0, 4)):
        emo = emotions_list[int(chosen[rng.integers(len(chosen))])]
        tpl = EMOTION_TEMPLATES[emo][rng.integers(len(EMOTION_TEMPLATES[emo]))]
        word = vocab[emo][rng.integers(len(vocab[emo]))]
        sentences.append(tpl.format(w=word, t=topic))
    for _ in range(rng.integers(1, 4)):
        sentences.append(NEUTRAL_SENTENCES[rng.integers(len(NEUTRAL_SENTENCES))].format(t=topic))
    order = rng.permutation(len(sentences))
    body = " ".join(sentences[k] for k in order)
    return body[0].upper() + body[1:]


def _text_pools(
    rng: np.random.Generator, vocab: dict[str, list[str]]
) -> tuple[list[list[str]], list[list[str]]]:
    """POOL_PER_COMMUNITY titles and texts per community."""
    pool_titles: list[list[str]] = []
    pool_texts: list[list[str]] = []
    for name, _ in COMMUNITIES:
        titles, texts = [], []
        for _ in range(POOL_PER_COMMUNITY):
            topic = TOPICS[name][rng.integers(len(TOPICS[name]))]
            texts.append(_pool_text(rng, topic, vocab))
            titles.append(f"About {topic}")
        pool_titles.append(titles)
        pool_texts.append(texts)
    return pool_titles, pool_texts


def _escape_logits(
    pool_titles: list[list[str]], pool_texts: list[list[str]]
) -> tuple[list[np.ndarray], dict[str, float], dict[str, float], float]:
    """The planted escape log-odds of every pool text (from its scored, standardised features), with the
    features' means and standard deviations and the intercept."""
    from pipeline.affect import Scorer, text_for_scoring

    scorer = Scorer(emotions=True)
    features: dict[str, list[np.ndarray]] = {f: [] for f in PLANTED_EFFECTS}
    for titles, texts in zip(pool_titles, pool_texts, strict=True):
        scores = scorer.score_many([text_for_scoring(t, x) for t, x in zip(titles, texts, strict=True)])
        for f in PLANTED_EFFECTS:
            features[f].append(np.asarray(scores[f], dtype=float))
    # standardize with the distribution the simulator actually draws from: community popularity x uniform pool
    popularity = np.array([p for _, p in COMMUNITIES])
    weight = np.repeat(popularity / popularity.sum() / POOL_PER_COMMUNITY, POOL_PER_COMMUNITY)
    mean, sd = {}, {}
    for f, parts in features.items():
        values = np.concatenate(parts)
        mean[f] = float(np.sum(weight * values))
        sd[f] = float(math.sqrt(np.sum(weight * (values - mean[f]) ** 2))) or 1.0
    intercept = math.log(BASE_ESCAPE_RATE / (1 - BASE_ESCAPE_RATE))
    logits = []
    for c in range(len(pool_texts)):
        logit = np.full(POOL_PER_COMMUNITY, intercept)
        for f, beta in PLANTED_EFFECTS.items():
            logit += beta * (features[f][c] - mean[f]) / sd[f]
        logits.append(logit)
    return logits, mean, sd, intercept


def _comment_pool(rng: np.random.Generator, vocab: dict[str, list[str]]) -> list[str]:
    all_words = [w for words in vocab.values() for w in words]
    pool = []
    for _ in range(600):
        tpl = COMMENT_SENTENCES[rng.integers(len(COMMENT_SENTENCES))]
        pool.append(tpl.format(w=all_words[rng.integers(len(all_words))]).capitalize())
    return pool


def build_world(seed: int, scale: float, emotions: bool = True) -> World:
    rng = np.random.default_rng([seed, 0x5EED])
    activity, membership = _memberships(rng, max(200, int(USERS_PER_SCALE * scale)))
    members, member_cdf, both = _member_arrays(membership, activity)
    vocab = _emotion_vocab()
    pool_titles, pool_texts = _text_pools(rng, vocab)
    logits, mean, sd, intercept = _escape_logits(pool_titles, pool_texts)
    popularity = np.array([p for _, p in COMMUNITIES])
    return World(
        seed=seed,
        scale=scale,
        activity=activity,
        members=members,
        member_cdf=member_cdf,
        both=both,
        community_cdf=np.cumsum(popularity) / popularity.sum(),
        pool_titles=pool_titles,
        pool_texts=pool_texts,
        pool_escape_logit=logits,
        feature_mean=mean,
        feature_sd=sd,
        intercept=intercept,
        comment_pool=_comment_pool(rng, vocab),
    )


class DemoSource:
    name = "demo"
    platform = PLATFORM
    lands_raw = True

    def __init__(self, settings: Settings):
        self.settings = settings
        self.seed = settings.demo.seed
        self.scale = settings.demo.scale

    @cached_property
    def world(self) -> World:
        return build_world(self.seed, self.scale)

    # ------------------------------------------------------------------------------------------------ truth
    def planted_tables(self) -> dict[str, pa.Table]:
        w = self.world
        effects = pa.table(
            {
                "platform": [PLATFORM] * len(PLANTED_EFFECTS),
                "feature": list(PLANTED_EFFECTS),
                "log_odds_per_sd": list(PLANTED_EFFECTS.values()),
                "odds_ratio_per_sd": [math.exp(b) for b in PLANTED_EFFECTS.values()],
                "feature_mean": [w.feature_mean[f] for f in PLANTED_EFFECTS],
                "feature_sd": [w.feature_sd[f] for f in PLANTED_EFFECTS],
                "intercept": [w.intercept] * len(PLANTED_EFFECTS),
                "seed": [self.seed] * len(PLANTED_EFFECTS),
            }
        )
        pairs = sorted((min(a, b), max(a, b), p, label) for a, b, p, label in PLANTED_OVERLAP)
        overlap = pa.table(
            {
                "platform": [PLATFORM] * len(pairs),
                "community_a": [p[0] for p in pairs],
                "community_b": [p[1] for p in pairs],
                "co_membership_probability": [p[2] for p in pairs],
                "strength": [p[3] for p in pairs],
            }
        )
        return {"planted_effects": effects, "planted_overlap": overlap}

    def write_truth(self) -> None:
        from pipeline.lake import write_reference_table

        for name, table in self.planted_tables().items():
            write_reference_table(self.settings, "demo", name, table)

    # ------------------------------------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        if ctx.window is None:
            raise ValueError("the demo source needs a time window")
        self.write_truth()
        since, until = ctx.window.since, ctx.window.until
        first_day = (since - timedelta(hours=MAX_CASCADE_HOURS)).date()
        last_day = (until - timedelta(microseconds=1)).date()
        resume_from = ctx.cursor.get("next_day")
        day = date.fromisoformat(resume_from) if resume_from else first_day
        lo, hi = since.timestamp(), until.timestamp()
        delay = self.settings.demo.page_delay_seconds
        while day <= last_day:
            items = [it for it in self.generate_day(day) if lo <= it["created_utc"] < hi]
            for chunk, start in enumerate(range(0, len(items), ROOTS_PER_PAGE * 6)):
                yield {
                    "request": {"endpoint": "demo/day", "day": day.isoformat(), "chunk": chunk},
                    "data": {"items": items[start : start + ROOTS_PER_PAGE * 6]},
                }
                if delay:
                    time.sleep(delay)
            day += timedelta(days=1)
            ctx.save_cursor(next_day=day.isoformat())

    def generate_day(self, day: date) -> list[dict[str, Any]]:
        """Every item of the cascades rooted on ``day`` (some fall on later days)."""
        w = self.world
        rng = np.random.default_rng([self.seed, day.toordinal()])
        n_roots = int(rng.poisson(ROOTS_PER_DAY * self.scale))
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        limit = MAX_CASCADE_HOURS * 3600.0
        items: list[dict[str, Any]] = []
        stamp = day.strftime("%Y%m%d")
        # diurnal pattern: more posts in the (UTC) afternoon and evening
        hours = rng.choice(24, size=n_roots, p=_DIURNAL)
        offsets = hours * 3600.0 + rng.random(n_roots) * 3600.0
        communities = np.searchsorted(w.community_cdf, rng.random(n_roots))
        names = [c for c, _ in COMMUNITIES]
        if is_burst_week(day):  # the planted burst (docs/sources/demo.md)
            offsets, communities, n_roots = self._burst(day, offsets, communities)
        for r in range(n_roots):
            c = int(communities[r])
            root_time = day_start + float(offsets[r])
            pick = int(rng.integers(POOL_PER_COMMUNITY))
            author = self._member(rng, c)
            root_id = f"{stamp}r{r:05d}"
            new_id = _id_factory(root_id)
            has_link = rng.random() < 0.3
            root = {
                "id": root_id,
                "kind": "post",
                "community": names[c],
                "author": author,
                "created_utc": round(root_time, 3),
                "title": w.pool_titles[c][pick],
                "body": w.pool_texts[c][pick],
                "url": f"https://{DOMAINS[int(rng.integers(len(DOMAINS)))]}/{stamp}/{r}"
                if has_link
                else None,
                "score": int(rng.lognormal(2.0, 1.2)),
                "removed": bool(rng.random() < 0.01),
            }
            cascade = [root]
            self._reply_tree(rng, cascade, root, c, root_time, limit, new_id)
            escape_p = _sigmoid(np.array(w.pool_escape_logit[c][pick]))
            if rng.random() < float(escape_p):
                self._escape(rng, cascade, root, c, root_time, limit, new_id)
            children: dict[str, int] = {}
            shares: dict[str, int] = {}
            for it in cascade:
                if it.get("parent"):
                    children[it["parent"]] = children.get(it["parent"], 0) + 1
                if it.get("shared"):
                    shares[it["shared"]] = shares.get(it["shared"], 0) + 1
            for it in cascade:
                it["num_replies"] = children.get(it["id"], 0)
                it["num_shares"] = shares.get(it["id"], 0)
            items.extend(cascade)
        return items

    def _burst(
        self, day: date, offsets: np.ndarray, communities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The burst's extra roots, after the usual ones and from their own stream (other days unchanged)."""
        extra = max(1, round(BURST_ROOTS_PER_DAY * self.scale))
        burst = np.random.default_rng([self.seed, day.toordinal(), BURST_STREAM])
        offsets = np.concatenate([offsets, burst.random(extra) * 86_400.0])
        index = [c for c, _ in COMMUNITIES].index(BURST_COMMUNITY)
        communities = np.concatenate([communities, np.full(extra, index)])
        return offsets, communities, len(offsets)

    def _member(self, rng: np.random.Generator, c: int) -> str:
        w = self.world
        k = int(np.searchsorted(w.member_cdf[c], rng.random()))
        return f"user_{int(w.members[c][min(k, len(w.members[c]) - 1)]):06d}"

    def _comment(
        self,
        rng: np.random.Generator,
        parent: dict[str, Any],
        community: str,
        author: str,
        when: float,
        new_id: Any,
    ) -> dict[str, Any]:
        roll = rng.random()
        deleted, removed = roll < 0.015, 0.015 <= roll < 0.02
        return {
            "id": new_id(),
            "kind": "comment",
            "community": community,
            "author": "[deleted]" if deleted else author,
            "parent": parent["id"],
            "root": parent.get("root") or parent["id"],
            "created_utc": round(when, 3),
            "body": "[deleted]"
            if deleted
            else "[removed]"
            if removed
            else self.world.comment_pool[int(rng.integers(len(self.world.comment_pool)))],
            "score": int(rng.lognormal(0.8, 1.0)),
            "deleted": deleted,
            "removed": removed,
        }

    def _reply_tree(
        self,
        rng: np.random.Generator,
        cascade: list[dict[str, Any]],
        top: dict[str, Any],
        c: int,
        start: float,
        limit: float,
        new_id: Any,
    ) -> None:
        """A branching process under ``top`` (mean offspring shrinking with depth), plus rare long chains."""
        names = [n for n, _ in COMMUNITIES]
        community = names[c]
        origin_time = start
        frontier = [(top, start, 0)]
        budget = 1500
        while frontier and budget > 0:
            node, t, depth = frontier.pop()
            mean = 2.3 if depth == 0 else 0.9 * 0.62 ** (depth - 1)
            for _ in range(int(rng.poisson(mean))):
                when = t + float(rng.lognormal(7.4, 1.3))  # median ~27 minutes after the parent
                if when - origin_time > limit:
                    continue
                reply = self._comment(rng, node, community, self._member(rng, c), when, new_id)
                reply["root"] = top.get("root") or top["id"]
                cascade.append(reply)
                frontier.append((reply, when, depth + 1))
                budget -= 1
        if rng.random() < 0.04 and len(cascade) > 1:
            # a back-and-forth between two users: the long reply chains every forum has
            node = cascade[int(rng.integers(1, len(cascade)))]
            t = float(node["created_utc"])
            pair = (self._member(rng, c), self._member(rng, c))
            for k in range(int(rng.integers(5, 26))):
                t += float(rng.lognormal(6.5, 0.8))
                if t - origin_time > limit:
                    break
                reply = self._comment(rng, node, community, pair[k % 2], t, new_id)
                reply["root"] = node.get("root") or node["id"]
                cascade.append(reply)
                node = reply

    def _escape(
        self,
        rng: np.random.Generator,
        cascade: list[dict[str, Any]],
        root: dict[str, Any],
        c: int,
        root_time: float,
        limit: float,
        new_id: Any,
    ) -> None:
        """Share the root into 1+ other communities; each share gathers replies from its new community."""
        w = self.world
        names = [n for n, _ in COMMUNITIES]
        partners = [
            names.index(b if a == names[c] else a) for a, b, _, _ in PLANTED_OVERLAP if names[c] in (a, b)
        ]
        n_targets = 1 + int(rng.binomial(2, 0.25))
        chosen: list[int] = []
        for _ in range(n_targets):
            if partners and rng.random() < 0.5:
                target = partners[int(rng.integers(len(partners)))]
            else:
                target = int(np.searchsorted(w.community_cdf, rng.random()))
            if target != c and target not in chosen:
                chosen.append(target)
        if not chosen:
            chosen.append((c + 1 + int(rng.integers(len(names) - 1))) % len(names))
        for target in chosen:
            when = root_time + float(rng.lognormal(8.6, 1.0))  # median ~1.5 hours
            if when - root_time > limit:
                when = root_time + limit * 0.5
            bridge = w.both.get((c, target))
            if bridge is not None and len(bridge) and rng.random() < 0.5:
                sharer = f"user_{int(bridge[int(rng.integers(len(bridge)))]):06d}"
            else:
                sharer = self._member(rng, target)
            share = {
                "id": new_id(),
                "kind": "share",
                "share_type": "crosspost",
                "community": names[target],
                "author": sharer,
                "shared": root["id"],
                "created_utc": round(when, 3),
                "title": root["title"],
                "body": None,
                "url": root.get("url"),
                "score": int(rng.lognormal(1.5, 1.2)),
            }
            cascade.append(share)
            self._reply_tree(rng, cascade, share, target, when, limit - (when - root_time), new_id)

    # -------------------------------------------------------------------------------------------- normalize
    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        prefix = "demo:"
        for item in page["data"]["items"]:
            try:
                parent, shared, root = item.get("parent"), item.get("shared"), item.get("root")
                yield new_post(
                    platform=PLATFORM,
                    post_id=prefix + item["id"],
                    kind=item["kind"],
                    share_type=item.get("share_type"),
                    community=item.get("community"),
                    author_id=item.get("author"),
                    author_name=item.get("author"),
                    parent_id=prefix + parent if parent else None,
                    root_id=prefix + root if root else None,
                    shared_id=prefix + shared if shared else None,
                    created_at=item["created_utc"],
                    title=item.get("title"),
                    text=item.get("body"),
                    url=item.get("url"),
                    lang="en",
                    score=item.get("score"),
                    reply_count=item.get("num_replies"),
                    share_count=item.get("num_shares"),
                    is_deleted=bool(item.get("deleted", False)),
                    is_removed=bool(item.get("removed", False)),
                )
            except (KeyError, TypeError) as exc:
                yield Reject(f"malformed demo item: {exc!r}", item)


_DIURNAL_WEIGHTS = np.array(
    [2, 1.5, 1, 1, 1, 1.2, 1.6, 2.2, 2.8, 3.2, 3.5, 3.8, 4, 4.2, 4.4, 4.6, 4.8, 5, 5.2, 5, 4.6, 4, 3.2, 2.6]
)
_DIURNAL = _DIURNAL_WEIGHTS / _DIURNAL_WEIGHTS.sum()

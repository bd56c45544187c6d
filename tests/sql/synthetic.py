"""A small, seeded, synthetic lake with the shapes the marts care about (used until the demo source lands).

Reddit: six subreddits over six weeks; users have one or two home communities, with planted overlaps
(r/python, r/learnpython and r/datascience share many users; so do r/rust and r/golang). Threads get comments
mostly from members and sometimes from outsiders; some posts are crossposted into another subreddit.
X: three groups of users who reply to and quote each other, plus retweet stars.
"""

from __future__ import annotations

import random
from typing import Any

from .conftest import post

SUBREDDITS = ["r/python", "r/learnpython", "r/datascience", "r/rust", "r/golang", "r/cooking"]
HOMES = [
    ("r/python", "r/learnpython"),
    ("r/python", "r/datascience"),
    ("r/learnpython", "r/datascience"),
    ("r/rust", "r/golang"),
    ("r/cooking",),
    ("r/python",),
    ("r/rust",),
    ("r/golang",),
]
DAY = 24 * 60


def synthetic_rows(seed: int = 11, weeks: int = 6, users: int = 240) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    homes = {f"ru{i}": HOMES[i % len(HOMES)] for i in range(users)}
    by_community: dict[str, list[str]] = {c: [] for c in SUBREDDITS}
    for user, communities in homes.items():
        for c in communities:
            by_community[c].append(user)
    n = 0
    for week in range(weeks):
        for community in SUBREDDITS:
            for _ in range(rng.randint(6, 10)):
                n += 1
                start = week * 7 * DAY + rng.uniform(0, 6 * DAY)
                root = f"reddit:t3_{n}"
                rows.append(
                    post(
                        root,
                        community=community,
                        author_id=rng.choice(by_community[community]),
                        created_at=start,
                        title=f"post {n}",
                    )
                )
                thread = [(root, start)]
                for k in range(rng.choice([0, 1, 3, 8, 20, 40])):
                    parent, parent_at = rng.choice(thread[-5:] if rng.random() < 0.6 else thread)
                    outsider = rng.random() < 0.15
                    author = rng.choice(list(homes) if outsider else by_community[community])
                    if rng.random() < 0.03:
                        author = None  # a deleted account
                    cid = f"reddit:t1_{n}_{k}"
                    at = parent_at + rng.uniform(1, 240)
                    rows.append(
                        post(
                            cid,
                            parent_id=parent,
                            root_id=root,
                            community=community,
                            author_id=author,
                            created_at=at,
                            text="a comment",
                        )
                    )
                    thread.append((cid, at))
                if rng.random() < 0.05:
                    # a reply whose parent was never fetched (deleted, or beyond a "load more" link)
                    rows.append(
                        post(
                            f"reddit:t1_{n}_orphan",
                            parent_id=f"reddit:t1_{n}_gone",
                            root_id=root,
                            community=community,
                            author_id=rng.choice(by_community[community]),
                            created_at=start + 50,
                        )
                    )
                if rng.random() < 0.12:
                    target = rng.choice([c for c in SUBREDDITS if c != community])
                    xpost = f"reddit:t3_{n}x"
                    at = start + rng.uniform(30, 600)
                    rows.append(
                        post(
                            xpost,
                            shared_id=root,
                            share_type="crosspost",
                            community=target,
                            author_id=rng.choice(by_community[target]),
                            created_at=at,
                        )
                    )
                    for k in range(rng.randint(1, 6)):
                        rows.append(
                            post(
                                f"reddit:t1_{n}x{k}",
                                parent_id=xpost,
                                root_id=xpost,
                                community=target,
                                author_id=rng.choice(by_community[target]),
                                created_at=at + 5 + k,
                            )
                        )
    # X: three interacting groups
    groups = [[f"xg{g}_{i}" for i in range(15)] for g in range(3)]
    m = 0
    for week in range(weeks):
        for g, members in enumerate(groups):
            for _ in range(12):
                m += 1
                start = week * 7 * DAY + rng.uniform(0, 6 * DAY)
                tweet = f"x:{m}"
                rows.append(post(tweet, author_id=rng.choice(members), created_at=start, text="a tweet"))
                for k in range(rng.randint(2, 8)):
                    replier = rng.choice(members if rng.random() < 0.9 else groups[(g + 1) % 3])
                    rows.append(
                        post(
                            f"x:{m}r{k}",
                            parent_id=tweet,
                            root_id=tweet,
                            author_id=replier,
                            created_at=start + 2 + k,
                        )
                    )
                for k in range(rng.choice([0, 0, 3, 12])):
                    rows.append(
                        post(
                            f"x:{m}rt{k}",
                            shared_id=tweet,
                            share_type="retweet",
                            author_id=rng.choice(members),
                            created_at=start + 10 + k,
                        )
                    )
                if rng.random() < 0.2:
                    quoter = rng.choice(groups[(g + 2) % 3])
                    rows.append(
                        post(
                            f"x:{m}q",
                            shared_id=tweet,
                            share_type="quote",
                            author_id=quoter,
                            created_at=start + 30,
                            text="a quote",
                        )
                    )
    return rows

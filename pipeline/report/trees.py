"""Small static drawings of cascades: a radial tree (root in the centre, one ring per depth), nodes coloured by
the community the item was posted in.

Layout: leaves are spread evenly around the circle in depth-first order (children in the order of the query:
depth, time, id), every other node sits at the mean angle of its children, at radius = depth. The drawing
depends only on the rows, so the same cascade gives the same PNG.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

from pipeline.report.charts import INK, MUTED, PALETTE, Chart, _figure, _png, _short

#: communities coloured individually (the origin first, then by items); the rest are grey
MAX_COLOURS = len(PALETTE) - 1
NO_COMMUNITY = "(no community)"


def radial_layout(tree: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(x, y) per post_id of one cascade (columns post_id, parent_id, depth; the root has no parent)."""
    children: dict[str, list[str]] = {}
    root = None
    for pid, parent in zip(tree["post_id"], tree["parent_id"], strict=True):
        if parent is None or (isinstance(parent, float) and math.isnan(parent)):
            root = root or pid
        else:
            children.setdefault(parent, []).append(pid)
    if root is None:
        return {}
    order, stack, depth = [], [root], {root: 0}
    while stack:  # depth-first preorder, children in query order
        node = stack.pop()
        order.append(node)
        for child in reversed(children.get(node, [])):
            depth[child] = depth[node] + 1
            stack.append(child)
    leaves = [n for n in order if not children.get(n)]
    angle = {leaf: 2 * math.pi * i / len(leaves) for i, leaf in enumerate(leaves)}
    for node in reversed(order):  # children before parents
        kids = children.get(node)
        if kids:
            angle[node] = float(np.mean([angle[k] for k in kids]))
    return {n: (depth[n] * math.cos(angle[n]), depth[n] * math.sin(angle[n])) for n in order}


def community_colours(tree: pd.DataFrame, origin: str) -> dict[str, str]:
    """Colour per community: the origin first, then by items (then name); beyond the palette: grey."""
    counts = tree["community"].fillna(NO_COMMUNITY).value_counts()
    ranked = sorted(counts.index, key=lambda c: (c != origin, -counts[c], c))
    return {c: PALETTE[i] if i < MAX_COLOURS else PALETTE[-1] for i, c in enumerate(ranked)}


def cascade_drawing(tree: pd.DataFrame, *, rank: int, origin: str, title: str) -> Chart:
    """The radial tree of one cascade (rows of ``sql/report/cascade_trees.sql`` for one root)."""
    pos = radial_layout(tree)
    communities = tree["community"].fillna(NO_COMMUNITY)
    colours = community_colours(tree, origin)
    with _figure(3.3, 3.6) as (fig, axes):
        ax = axes[0, 0]
        ax.set_aspect("equal")
        ax.axis("off")
        edges = [
            (pos[p], pos[c])
            for c, p in zip(tree["post_id"], tree["parent_id"], strict=True)
            if isinstance(p, str) and p in pos and c in pos
        ]
        ax.add_collection(LineCollection(edges, colors=MUTED, linewidths=0.6, zorder=1))
        xy = np.array([pos.get(p, (np.nan, np.nan)) for p in tree["post_id"]])
        sizes = np.where(tree["depth"].to_numpy() == 0, 60.0, 14.0)
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=[colours[c] for c in communities], zorder=2, linewidths=0)
        lim = max(1.0, float(np.nanmax(np.abs(xy)))) * 1.08 if len(xy) else 1.0
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        shown = list(dict.fromkeys(c for c in colours if colours[c] != PALETTE[-1]))[:4]
        handles = [
            ax.scatter([], [], s=20, c=colours[c], label=_short(c, 22) + (" (origin)" if c == origin else ""))
            for c in shown
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=1, fontsize=7)
        ax.set_title(f"#{rank} · {len(tree):,} items · depth {int(tree['depth'].max())}", color=INK)
        png = _png(fig)
    names = ", ".join(shown)
    alt = f"Cascade of escaped item #{rank} as a radial tree, {len(tree)} items; communities: {names}"
    return Chart(f"chart_cascade_{rank}", f"Cascade of #{rank} “{_short(title, 60)}”", alt, png)

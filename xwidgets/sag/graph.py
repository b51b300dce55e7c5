"""The patch-deletion graph below a SAG's roots (``docs/sag.md``, step 4).

Each shown root is a node. A node whose confidence, relative to the reference score (the full image's score, or
for a class the model does not predict the floor when that is higher; :mod:`xwidgets.sag.sag`), is above
``expand_threshold`` (40 % in the official code) gets children that each remove one of its first
``removals_per_node`` patches (3 in the official code; patches in search order). A patch set reached from two
parents, or from two roots, is **one** node with several incoming edges (the official code drew duplicates).
Sets of one patch, and the empty root of an image whose baseline alone passes, are not expanded: removing their
patch leaves the bare baseline. All new nodes of a depth are scored in one batched forward.

Nodes carry ``level`` (patches removed from the roots) and ``order`` (position in the row, from a barycentre
ordering on the parents), which the explorer's GraphView and :func:`~xwidgets.sag.figure.graph_figure` share,
so the figure draws the same layout as the view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .patches import PatchSet

__all__ = ["deletion_graph", "node_colour", "edge_colour", "node_label", "dnf", "view_graph"]

#: Node frame colours by relative confidence (> 90 %, > 50 %, else) and edge colours by the drop in points
#: (< 20, < 60, ≥ 60): the official bins, in a colourblind-safe palette (Okabe–Ito).
NODE_COLOURS = ("#009E73", "#E69F00", "#D55E00")
EDGE_COLOURS = ("#999999", "#E69F00", "#D55E00")


def node_colour(relative: float) -> str:
    """The frame colour of a node whose score is ``relative`` × the reference score (the full image's)."""
    return NODE_COLOURS[0] if relative > 0.9 else NODE_COLOURS[1] if relative > 0.5 else NODE_COLOURS[2]


def edge_colour(drop: float) -> str:
    """The colour of an edge whose relative confidence drops by ``drop`` (a fraction; 0.2 = 20 points)."""
    return EDGE_COLOURS[0] if drop < 0.2 else EDGE_COLOURS[1] if drop < 0.6 else EDGE_COLOURS[2]


def node_label(score: float, relative: float, absolute: bool) -> str:
    """A node's label: its confidence relative to the full image (``"93%"``), or, where the threshold is absolute
    because the full image gives a class it does not predict less than the floor, its score itself
    (``"p = 0.370"``), since a share of a near-zero score says nothing."""
    return f"p = {score:.3f}" if absolute else f"{100 * relative:.0f}%"


def dnf(roots: Sequence[dict]) -> str:
    """The disjunctive normal form of roots, e.g. ``"P17 & P30 | P10"`` (patches sorted within a root); the empty
    root (the baseline alone passes) is written ``"∅"``."""
    return " | ".join(" & ".join(f"P{p}" for p in sorted(root["patches"])) or "∅" for root in roots)


def view_graph(
    nodes: Sequence[dict], edges: Sequence[dict], images: Sequence[torch.Tensor], floored: bool
) -> tuple[list[dict], list[dict]]:
    """One image's graph as a ``GraphView`` draws it (the SAGExplorer and the classroom share it): each node shows
    ``images[i]`` (``[3, h, w]`` in [0, 1]: its patches, the rest dimmed), framed by :func:`node_colour` and labelled
    by :func:`node_label` (``floored``: the threshold was absolute); each edge is coloured and widened by the
    confidence drop and names the removed patch (``"−P10"``). Returns (nodes, edges) as the view's dicts."""
    drawn_nodes = [
        {
            "id": node["id"],
            "image": image.clamp(0, 1),
            "label": node_label(node["score"], node["relative"], floored),
            "level": int(node["level"]),
            "order": float(node["order"]),
            "colour": node_colour(node["relative"]),
            "detail": f"{' & '.join(f'P{p}' for p in sorted(node['patches']))} · p = {node['score']:.3f}",
        }
        for node, image in zip(nodes, images)
    ]
    drawn_edges = [
        {
            "source": edge["source"],
            "target": edge["target"],
            "colour": edge_colour(edge["drop"]),
            "width": 1.5 + 3.0 * min(max(edge["drop"], 0.0), 1.0),
            "label": f"−P{edge['removed']}",
        }
        for edge in edges
    ]
    return drawn_nodes, drawn_edges


def deletion_graph(
    roots: Sequence[dict],
    reference: float,
    score: Callable[[Sequence[PatchSet]], torch.Tensor],
    *,
    expand_threshold: float,
    removals_per_node: int,
) -> tuple[list[dict], list[dict]]:
    """Nodes and edges of one image's graph.

    Args:
        roots: the shown roots, ``{"patches": [...], "score": float}``, patches in search order.
        reference: the score relative confidences divide by (the full image's, or the floor).
        score: batched scoring of patch sets of this image, returns ``[N]``.
        expand_threshold: nodes above this relative confidence get children.
        removals_per_node: how many of a node's first patches are tried as removals.

    Returns:
        nodes ``{"id", "patches", "score", "relative", "level", "order", "roots"}`` (``roots``: indices of the
        roots the node descends from) and edges ``{"source", "target", "removed", "drop"}`` (``drop`` in
        relative confidence, a fraction).
    """
    nodes: dict[frozenset, dict] = {}
    edges: list[dict] = []
    frontier: list[frozenset] = []
    for index, root in enumerate(roots):
        key = frozenset(root["patches"])
        if key in nodes:
            nodes[key]["roots"].append(index)
            continue
        nodes[key] = _node(len(nodes), root["patches"], float(root["score"]), reference, 0, [index])
        frontier.append(key)
    level = 0
    while frontier:
        level += 1
        parents = [k for k in frontier if nodes[k]["relative"] > expand_threshold and len(k) > 1]
        new: dict[frozenset, tuple[int, ...]] = {}
        links: list[tuple[frozenset, frozenset, int]] = []
        for key in parents:
            patches = nodes[key]["patches"]
            for removed in patches[:removals_per_node]:
                child = tuple(p for p in patches if p != removed)
                child_key = frozenset(child)
                links.append((key, child_key, removed))
                if child_key not in nodes and child_key not in new:
                    new[child_key] = child
        values = score(list(new.values())).tolist() if new else []
        for (child_key, child), value in zip(new.items(), values):
            nodes[child_key] = _node(len(nodes), list(child), value, reference, level, [])
        for parent, child_key, removed in links:
            if not any(e["source"] == nodes[parent]["id"] and e["target"] == nodes[child_key]["id"] for e in edges):
                edges.append(
                    {
                        "source": nodes[parent]["id"],
                        "target": nodes[child_key]["id"],
                        "removed": removed,
                        "drop": nodes[parent]["relative"] - nodes[child_key]["relative"],
                    }
                )
            for index in nodes[parent]["roots"]:
                if index not in nodes[child_key]["roots"]:
                    nodes[child_key]["roots"].append(index)
        frontier = list(new)
    ordered = list(nodes.values())
    _order_rows(ordered, edges)
    return ordered, edges


def _node(number: int, patches: Sequence[int], value: float, reference: float, level: int, roots: list[int]) -> dict:
    relative = value / reference if reference > 0 else 0.0
    return {
        "id": f"n{number}",
        "patches": list(patches),
        "score": value,
        "relative": relative,
        "level": level,
        "order": 0.0,
        "roots": roots,
    }


def _order_rows(nodes: list[dict], edges: list[dict]) -> None:
    """Set each node's ``order``: roots in their given order, then each row sorted by the mean order of its
    parents (the barycentre heuristic, which keeps edges from crossing where it can)."""
    by_id = {n["id"]: n for n in nodes}
    parents: dict[str, list[str]] = {}
    for edge in edges:
        parents.setdefault(edge["target"], []).append(edge["source"])
    for level in sorted({n["level"] for n in nodes}):
        row = [n for n in nodes if n["level"] == level]
        if level == 0:
            keys = [float(i) for i in range(len(row))]
        else:
            keys = [
                sum(by_id[p]["order"] for p in parents.get(n["id"], [])) / max(len(parents.get(n["id"], [])), 1)
                for n in row
            ]
        ranked = sorted(range(len(row)), key=lambda i: (keys[i], i))
        for position, i in enumerate(ranked):
            row[i]["order"] = float(position)

"""GraphView: a node-link DAG whose nodes are image thumbnails, drawn as SVG by ``js/src/graph.js``.

Nodes sit in rows by ``level`` (0 at the top) and are ordered within a row by ``order``; edges are smooth arrows
from the bottom of their source to the top of their target, their labels placed clear of each other. The drawing
keeps its size, so thumbnails and text stay readable: a graph wider or taller than its box scrolls inside it.
Clicking a node selects it (the ``selected`` trait syncs both ways) and shows it enlarged beside the graph;
:meth:`GraphView.on_select` callbacks receive the id.
The view knows nothing about what the graph means: a caller turns its own result into nodes and edges.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import traitlets

from ..core.errors import invalid
from ._base import ViewWidget
from ._png import encode_image
from ._static import bundle
from ._traits import Int, Unicode, invalid_trait

__all__ = ["GraphView", "NODE_KEYS", "EDGE_KEYS"]

#: Keys a node dict may have; ``id`` and ``image`` are required.
NODE_KEYS = ("id", "image", "label", "level", "order", "colour", "detail")
#: Keys an edge dict may have; ``source`` and ``target`` are required.
EDGE_KEYS = ("source", "target", "colour", "width", "label")

DEFAULT_NODE_COLOUR = "#8c959f"
DEFAULT_EDGE_COLOUR = "#6e7781"
DEFAULT_EDGE_WIDTH = 2.0
MAX_EDGE_WIDTH = 32.0
#: The deepest row: the drawing is as tall as its deepest row, and a level of 10**9 would make it a kilometre tall.
MAX_LEVEL = 1000
THUMBNAIL_SIZES = (16, 512)
ENLARGED_SIZES = (32, 2048)
DISPLAY_SIZES = (64, 8192)


class GraphView(ViewWidget):
    """A directed acyclic graph of image thumbnails, with click-to-enlarge and hover.

    Args:
        nodes: a sequence of dicts, one per node, with keys

            - ``"id"`` (str, unique, required);
            - ``"image"`` (required): one image in any form :func:`~xwidgets.core.images.to_batch` accepts
              (HWC uint8/float numpy, CHW/BCHW torch in [0, 1], PIL, path). It is sent as PNG at its own size,
              so pass small thumbnails; the browser fits it into a ``thumbnail_size`` square;
            - ``"label"`` (str, default ``""``): the text under the thumbnail, e.g. ``"97%"``;
            - ``"level"`` (int in 0..1000, default 0): the row, 0 at the top;
            - ``"order"`` (finite float, default the node's index in ``nodes``): position within its row,
              ascending; ties keep the order of appearance;
            - ``"colour"`` (CSS colour, default a neutral grey): the thumbnail's frame;
            - ``"detail"`` (str, default ``""``): the hover tooltip and the text under the enlarged image.
        edges: a sequence of dicts ``{"source": id, "target": id, "colour": CSS colour (default grey),
            "width": line width in CSS px (default 2), "label": text at the edge's midpoint (default "")}``.
        title: a line above the graph ("" for none).
        thumbnail_size: side of a node's square thumbnail box in CSS px, 16..512.
        selected: the id of the node shown enlarged, or None.
        display_width: the width of the graph's box in CSS px, 64..8192 (never more than the output's width): a
            wider graph scrolls sideways in it, a narrower one is centred. None: the graph's own width.
        display_height: the box's greatest height in CSS px, 64..8192: a taller graph scrolls in it. None: no
            bound.
        enlarged_size: width in CSS px of the enlarged image of the selected node, 32..2048.

    Traits (synced): ``nodes`` (list of dicts as above, with ``image`` as PNG bytes plus the image's ``width``
    and ``height`` in pixels, every optional key filled in), ``edges`` (list of dicts, every key filled in),
    ``title``, ``thumbnail_size``, ``enlarged_size``, ``display_width`` and ``display_height`` (int or None),
    ``selected`` (str, "" for
    none; a click in the browser sets it) and ``hovered`` (str, the id under the mouse, "" for none; set by the
    browser). Replace the graph with :meth:`set_graph`, not by assigning ``nodes``.

    Raises:
        InvalidArgument: naming the offending argument (e.g. ``nodes[2]['id']``) for a non-dict entry, a
            missing or non-string id, a missing or unreadable image, a duplicate id, an unknown key, a negative or
            non-integer level, an edge naming an unknown node or itself, a bad width, size or selection.
    """

    _esm = bundle("graph")

    nodes = traitlets.List(traitlets.Dict()).tag(sync=True)
    edges = traitlets.List(traitlets.Dict()).tag(sync=True)
    title = Unicode("").tag(sync=True)
    thumbnail_size = Int(72).tag(sync=True)
    enlarged_size = Int(224).tag(sync=True)
    display_width = Int(None, allow_none=True).tag(sync=True)
    display_height = Int(None, allow_none=True).tag(sync=True)
    selected = Unicode("").tag(sync=True)
    hovered = Unicode("").tag(sync=True)

    def __init__(
        self,
        nodes: Sequence[Mapping],
        edges: Sequence[Mapping] = (),
        *,
        title: str = "",
        thumbnail_size: int = 72,
        selected: str | None = None,
        display_width: int | None = None,
        display_height: int | None = None,
        enlarged_size: int = 224,
    ):
        wire_nodes, wire_edges = _graph(nodes, edges)
        chosen = _selection(selected, wire_nodes)
        if not isinstance(title, str):
            raise invalid("title", title, "a str")
        thumbnail_size = bounded_int("thumbnail_size", thumbnail_size, *THUMBNAIL_SIZES)
        enlarged_size = bounded_int("enlarged_size", enlarged_size, *ENLARGED_SIZES)
        display_width = optional_size("display_width", display_width)
        display_height = optional_size("display_height", display_height)
        super().__init__(
            nodes=wire_nodes,
            edges=wire_edges,
            title=title,
            thumbnail_size=thumbnail_size,
            enlarged_size=enlarged_size,
            display_width=display_width,
            display_height=display_height,
            selected=chosen,
        )
        self._select_callbacks: list[Callable[[str], object]] = []
        self.observe(self._on_selected, names="selected")

    # --------------------------------------------------------------------------------------- graph
    def set_graph(self, nodes: Sequence[Mapping], edges: Sequence[Mapping] = (), selected: str | None = None) -> None:
        """Replace the whole graph in one update (validated like the constructor; nothing changes on error).

        ``selected=None`` keeps the current selection when that node is still in the graph and clears it
        otherwise; an id selects that node. Callers that grow a graph step by step call this at each step.
        """
        wire_nodes, wire_edges = _graph(nodes, edges)
        if selected is None:
            chosen = self.selected if any(n["id"] == self.selected for n in wire_nodes) else ""
        else:
            chosen = _selection(selected, wire_nodes)
        with self.hold_sync():
            self.nodes = wire_nodes
            self.edges = wire_edges
            self.selected = chosen

    # ----------------------------------------------------------------------------------- selection
    def select(self, node_id: str | None) -> None:
        """Select the node with this id (shown enlarged; ``on_select`` callbacks fire); None clears it."""
        self.selected = _selection(node_id, self.nodes, name="node_id")

    def on_select(self, callback: Callable[[str], object], remove: bool = False) -> None:
        """Call ``callback(node_id)`` whenever ``selected`` becomes a node id, by a click or from Python.

        Clearing the selection calls nothing. ``remove=True`` unregisters the callback.
        """
        if not callable(callback):
            raise invalid("callback", callback, "a callable (node_id)")
        if remove:
            self._select_callbacks = [c for c in self._select_callbacks if c != callback]
        else:
            self._select_callbacks.append(callback)

    def _on_selected(self, change: dict) -> None:
        if change["new"]:
            for callback in list(self._select_callbacks):
                callback(change["new"])

    # ---------------------------------------------------------------------------------- validation
    @traitlets.validate("selected")
    def _check_selected(self, proposal):
        value = proposal["value"]
        from_browser = getattr(self, "_property_lock", {}).get("selected") == value
        if from_browser and not any(n["id"] == value for n in self.nodes):
            # a click on a node that a newer graph removed while the click was in flight: clear the selection
            # (the kernel then sends "" back) rather than keep an id no callback could use
            return ""
        return _selection(value, self.nodes)

    @traitlets.validate("thumbnail_size")
    def _check_thumbnail_size(self, proposal):
        return bounded_int("thumbnail_size", proposal["value"], *THUMBNAIL_SIZES)

    @traitlets.validate("enlarged_size")
    def _check_enlarged_size(self, proposal):
        return bounded_int("enlarged_size", proposal["value"], *ENLARGED_SIZES)

    @traitlets.validate("display_width", "display_height")
    def _check_display_size(self, proposal):
        return optional_size(proposal["trait"].name, proposal["value"])


def _graph(nodes: object, edges: object) -> tuple[list[dict], list[dict]]:
    """Validate a graph and turn it into the synced form (PNG bytes, every optional key filled in)."""
    wire_nodes = [_node(entry, i) for i, entry in enumerate(_entries(nodes, "nodes"))]
    first_use: dict[str, int] = {}
    for i, node in enumerate(wire_nodes):
        if node["id"] in first_use:
            raise invalid(
                f"nodes[{i}]['id']",
                f"{node['id']!r}, already the id of nodes[{first_use[node['id']]}]",
                "ids that are unique among the nodes",
            )
        first_use[node["id"]] = i
    wire_edges = [_edge(entry, i, first_use) for i, entry in enumerate(_entries(edges, "edges"))]
    return wire_nodes, wire_edges


def _entries(value: object, name: str) -> list[Mapping]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise invalid(name, value, "a list of dicts")
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise invalid(f"{name}[{i}]", entry, "a dict")
    return list(value)


def _unknown_keys(entry: Mapping, name: str, allowed: tuple[str, ...]) -> None:
    unknown = [key for key in entry if key not in allowed]
    if unknown:
        raise invalid(name, f"the key {unknown[0]!r}", "only the keys " + ", ".join(allowed))


def _node(entry: Mapping, index: int) -> dict:
    name = f"nodes[{index}]"
    _unknown_keys(entry, name, NODE_KEYS)
    if "id" not in entry:
        raise invalid(f"{name}['id']", "no id", "a non-empty str, unique among the nodes")
    node_id = entry["id"]
    if not isinstance(node_id, str) or not node_id:
        raise invalid(
            f"{name}['id']",
            node_id if not isinstance(node_id, str) else "''",
            "a non-empty str, unique among the nodes",
        )
    if "image" not in entry or entry["image"] is None:
        raise invalid(f"{name}['image']", "no image", "one image (numpy, torch, PIL or a path)")
    pixels, png = encode_image(entry["image"], name=f"{name}['image']")
    level = entry.get("level", 0)
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 0 <= int(level) <= MAX_LEVEL:
        raise invalid(f"{name}['level']", level, f"an int >= 0 and <= {MAX_LEVEL} (the row, 0 at the top)")
    order = entry.get("order", index)
    if not finite_number(order):
        raise invalid(f"{name}['order']", order, "a finite number (position within the row)")
    return {
        "id": node_id,
        "image": png,
        "width": int(pixels.shape[-1]),
        "height": int(pixels.shape[-2]),
        "label": _text(entry, "label", name),
        "level": int(level),
        "order": float(order),
        "colour": _colour(entry, name, DEFAULT_NODE_COLOUR),
        "detail": _text(entry, "detail", name),
    }


def _edge(entry: Mapping, index: int, ids: Mapping[str, int]) -> dict:
    name = f"edges[{index}]"
    _unknown_keys(entry, name, EDGE_KEYS)
    ends = []
    for key in ("source", "target"):
        if key not in entry:
            raise invalid(f"{name}['{key}']", f"no {key}", "the id of a node")
        if not isinstance(entry[key], str) or entry[key] not in ids:
            raise invalid(f"{name}['{key}']", repr(entry[key]), f"the id of one of the {len(ids)} nodes")
        ends.append(entry[key])
    if ends[0] == ends[1]:
        raise invalid(name, f"an edge from {ends[0]!r} to itself", "an edge between two different nodes")
    width = entry.get("width", DEFAULT_EDGE_WIDTH)
    if not finite_number(width) or not 0 < float(width) <= MAX_EDGE_WIDTH:
        raise invalid(f"{name}['width']", width, f"a line width in CSS px in (0, {MAX_EDGE_WIDTH:g}]")
    return {
        "source": ends[0],
        "target": ends[1],
        "colour": _colour(entry, name, DEFAULT_EDGE_COLOUR),
        "width": float(width),
        "label": _text(entry, "label", name),
    }


def finite_number(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool) that is finite as a float (``10**400`` is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _text(entry: Mapping, key: str, name: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise invalid(f"{name}['{key}']", value, "a str")
    return value


def _colour(entry: Mapping, name: str, default: str) -> str:
    value = entry.get("colour", default)
    if not isinstance(value, str) or not value.strip():
        raise invalid(
            f"{name}['colour']",
            value if not isinstance(value, str) else repr(value),
            "a CSS colour such as '#1f77b4' or 'red'",
        )
    return value.strip()


def _selection(value: object, nodes: Sequence[Mapping], name: str = "selected") -> str:
    """``value`` as a selection: "" for None or "", else the id of one of ``nodes``."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not any(n["id"] == value for n in nodes):
        raise invalid_trait(name, repr(value), f"None, '' or the id of one of the {len(nodes)} nodes")
    return value


def optional_size(name: str, value: object) -> int | None:
    """A box size: None, or an int in :data:`DISPLAY_SIZES` (``InvalidArgument`` naming ``name`` otherwise)."""
    return None if value is None else bounded_int(name, value, *DISPLAY_SIZES)


def bounded_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` CSS px (a numpy integer too, not a bool), or ``InvalidArgument``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise invalid_trait(name, value, f"a size in CSS px, an int in [{low}, {high}]")
    return int(value)

import re
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from xwidgets.core.errors import InvalidArgument
from xwidgets.views import GraphView


@pytest.fixture
def thumbs():
    rng = np.random.default_rng(0)
    return {name: rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for name in "abcd"}


@pytest.fixture
def graph(thumbs):
    nodes = [
        {"id": "a", "image": thumbs["a"], "label": "97%", "level": 0, "colour": "#d62728", "detail": "all patches"},
        {"id": "b", "image": torch.rand(3, 12, 16), "label": "80%", "level": 1, "order": 2.0},
        {"id": "c", "image": Image.fromarray(thumbs["c"]), "label": "75%", "level": 1, "order": 1},
        {"id": "d", "image": thumbs["d"], "level": 2},
    ]
    edges = [
        {"source": "a", "target": "b", "colour": "#1f77b4", "width": 3, "label": "-1 patch"},
        {"source": "a", "target": "c"},
        {"source": "c", "target": "d"},
    ]
    return nodes, edges


def _front_end_update(view, **state):
    """What the comm delivers when the browser changes a trait (the real ipywidgets message path)."""
    view._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def test_each_node_travels_as_png_at_its_own_size(graph, thumbs):
    view = GraphView(*graph, title="SAG", thumbnail_size=64)
    assert [n["id"] for n in view.nodes] == ["a", "b", "c", "d"]
    first = view.nodes[0]
    assert isinstance(first["image"], bytes) and first["image"][:8] == b"\x89PNG\r\n\x1a\n"
    decoded = np.asarray(Image.open(BytesIO(first["image"])))
    assert decoded.shape == (12, 16, 3) and np.array_equal(decoded, thumbs["a"])
    assert np.array_equal(np.asarray(Image.open(BytesIO(view.nodes[2]["image"]))), thumbs["c"])
    assert all((n["width"], n["height"]) == (16, 12) for n in view.nodes)
    assert (view.title, view.thumbnail_size, view.enlarged_size, view.display_width) == ("SAG", 64, 224, None)
    assert (view.selected, view.hovered) == ("", "")


def test_traits_hold_the_graph_with_defaults_filled_in(graph):
    view = GraphView(*graph)
    a, b, c, d = view.nodes
    assert {k: a[k] for k in ("label", "level", "order", "colour", "detail")} == {
        "label": "97%",
        "level": 0,
        "order": 0.0,
        "colour": "#d62728",
        "detail": "all patches",
    }
    assert (b["order"], c["order"], d["order"]) == (2.0, 1.0, 3.0)  # missing order: the index in nodes
    assert (d["label"], d["detail"], d["colour"]) == ("", "", "#8c959f")
    assert isinstance(c["level"], int) and isinstance(c["order"], float)
    assert view.edges == [
        {"source": "a", "target": "b", "colour": "#1f77b4", "width": 3.0, "label": "-1 patch"},
        {"source": "a", "target": "c", "colour": "#6e7781", "width": 2.0, "label": ""},
        {"source": "c", "target": "d", "colour": "#6e7781", "width": 2.0, "label": ""},
    ]


def test_png_bytes_are_sent_as_binary_buffers(graph):
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(GraphView(*graph).get_state())
    assert paths == [["nodes", i, "image"] for i in range(4)]
    assert all(bytes(buffer)[:4] == b"\x89PNG" for buffer in buffers)
    assert "image" not in state["nodes"][0]  # the JSON part carries no pixels


def test_image_forms_and_sizes_are_kept(thumbs):
    view = GraphView(
        [{"id": "chw", "image": torch.rand(1, 3, 5, 7)}, {"id": "float", "image": np.full((9, 4, 3), 0.5, np.float32)}],
        [],
    )
    assert [(n["width"], n["height"]) for n in view.nodes] == [(7, 5), (4, 9)]
    assert np.asarray(Image.open(BytesIO(view.nodes[1]["image"])))[0, 0].tolist() == [128, 128, 128]


def _with(graph, node=None, edge=None, **changes):
    nodes = [dict(n) for n in graph[0]]
    edges = [dict(e) for e in graph[1]]
    if node is not None:
        nodes[node].update(changes)
    if edge is not None:
        edges[edge].update(changes)
    return nodes, edges


@pytest.mark.parametrize(
    "mutate, argument, message",
    [
        (lambda g: (g[0] + ["not a dict"], g[1]), "nodes[4]", "a dict"),
        (lambda g: ("a", g[1]), "nodes", "a list of dicts"),
        (lambda g: ([{k: v for k, v in g[0][0].items() if k != "id"}] + g[0][1:], g[1]), "nodes[0]['id']", "no id"),
        (lambda g: _with(g, node=1, id=7), "nodes[1]['id']", "non-empty str"),
        (lambda g: _with(g, node=1, id=""), "nodes[1]['id']", "non-empty str"),
        (lambda g: _with(g, node=2, id="a"), "nodes[2]['id']", "already the id of nodes[0]"),
        (
            lambda g: ([{k: v for k, v in g[0][0].items() if k != "image"}] + g[0][1:], g[1]),
            "nodes[0]['image']",
            "no image",
        ),
        (lambda g: _with(g, node=3, image=np.zeros((2, 4, 4, 3), np.uint8)), "nodes[3]['image']", "single image"),
        (lambda g: _with(g, node=3, image="/no/such/file.png"), "nodes[3]['image']", "not a file"),
        (lambda g: _with(g, node=1, level=-1), "nodes[1]['level']", "int >= 0"),
        (lambda g: _with(g, node=1, level=1.5), "nodes[1]['level']", "int >= 0"),
        (lambda g: _with(g, node=1, order=float("nan")), "nodes[1]['order']", "finite"),
        (lambda g: _with(g, node=0, label=97), "nodes[0]['label']", "a str"),
        (lambda g: _with(g, node=0, colour=""), "nodes[0]['colour']", "CSS colour"),
        (lambda g: _with(g, node=0, color="red"), "nodes[0]", "only the keys"),
        (lambda g: (g[0], g[1] + [3]), "edges[3]", "a dict"),
        (lambda g: _with(g, edge=1, target="zz"), "edges[1]['target']", "one of the 4 nodes"),
        (lambda g: _with(g, edge=0, source=None), "edges[0]['source']", "one of the 4 nodes"),
        (lambda g: (g[0], [{"target": "a"}]), "edges[0]['source']", "no source"),
        (lambda g: _with(g, edge=2, target="c"), "edges[2]", "to itself"),
        (lambda g: _with(g, edge=0, width=0), "edges[0]['width']", "line width"),
        (lambda g: _with(g, edge=0, width=float("inf")), "edges[0]['width']", "line width"),
    ],
)
def test_bad_graphs_name_the_argument(graph, mutate, argument, message):
    nodes, edges = mutate(graph)
    with pytest.raises(InvalidArgument, match=re.escape(message)) as info:
        GraphView(nodes, edges)
    assert info.value.argument == argument
    assert str(info.value).startswith(argument)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"thumbnail_size": 8}, "thumbnail_size"),
        ({"thumbnail_size": 64.5}, "thumbnail_size"),
        ({"enlarged_size": 10_000}, "enlarged_size"),
        ({"display_width": 10}, "display_width"),
        ({"display_height": 9000}, "display_height"),
        ({"display_height": True}, "display_height"),
        ({"selected": "zz"}, "selected"),
        ({"title": 3}, "title"),
    ],
)
def test_bad_settings(graph, kwargs, argument):
    with pytest.raises(InvalidArgument) as info:
        GraphView(*graph, **kwargs)
    assert info.value.argument == argument


def test_settings_are_checked_after_construction_too(graph):
    view = GraphView(*graph, display_width=480)
    with pytest.raises(InvalidArgument, match="thumbnail_size"):
        view.thumbnail_size = 4
    with pytest.raises(InvalidArgument, match="selected"):
        view.selected = "zz"
    with pytest.raises(InvalidArgument, match="display_height"):
        view.display_height = 20
    assert (view.thumbnail_size, view.selected, view.display_width, view.display_height) == (72, "", 480, None)
    view.display_width = None
    view.display_height = 400
    assert view.display_width is None and view.display_height == 400


def test_failed_construction_leaves_no_widget(graph):
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    for bad in (_with(graph, edge=0, target="zz"), _with(graph, node=1, level=-3)):
        with pytest.raises(InvalidArgument):
            GraphView(*bad)
    with pytest.raises(InvalidArgument):
        GraphView(*graph, selected="zz")
    with pytest.raises(InvalidArgument):
        GraphView(*graph, thumbnail_size=2)
    assert set(_instances) == before


def test_set_graph_replaces_the_graph_and_keeps_a_surviving_selection(graph, thumbs):
    view = GraphView(graph[0][:1], [], selected="a")
    sent = []
    view.observe(lambda change: sent.append(change["name"]), names=["nodes", "edges", "selected"])
    view.set_graph(*graph)
    assert [n["id"] for n in view.nodes] == ["a", "b", "c", "d"] and len(view.edges) == 3
    assert view.selected == "a" and sent == ["nodes", "edges"]
    view.set_graph([{"id": "x", "image": thumbs["b"]}], [])
    assert [n["id"] for n in view.nodes] == ["x"] and view.edges == [] and view.selected == ""
    view.set_graph(*graph, selected="c")
    assert view.selected == "c"


def test_set_graph_validates_and_changes_nothing_on_error(graph):
    view = GraphView(*graph, selected="b")
    nodes, edges = list(view.nodes), list(view.edges)
    with pytest.raises(InvalidArgument, match=r"edges\[1\]\['target'\]"):
        view.set_graph(*_with(graph, edge=1, target="zz"))
    with pytest.raises(InvalidArgument, match="selected"):
        view.set_graph(*graph, selected="zz")
    assert view.nodes == nodes and view.edges == edges and view.selected == "b"


def test_on_select_fires_on_a_click_in_the_browser(graph):
    view = GraphView(*graph)
    seen = []
    view.on_select(seen.append)
    _front_end_update(view, selected="c")
    assert view.selected == "c" and seen == ["c"]
    _front_end_update(view, selected="")  # clearing calls nothing
    _front_end_update(view, hovered="b")
    assert view.selected == "" and view.hovered == "b" and seen == ["c"]
    _front_end_update(view, selected="a")
    assert seen == ["c", "a"]


def test_a_click_on_a_node_removed_meanwhile_clears_the_selection(graph, thumbs):
    view = GraphView(*graph, selected="b")
    seen = []
    view.on_select(seen.append)
    view.set_graph([{"id": "x", "image": thumbs["a"]}], [], selected="x")
    sent, send_state = [], view.send_state
    view.send_state = lambda key=None: (sent.append(key), send_state(key))
    _front_end_update(view, selected="c")  # clicked before the new graph arrived
    assert view.selected == "" and seen == ["x"]
    assert sent == ["selected"]  # the browser is told the selection is cleared
    _front_end_update(view, selected="x")
    assert view.selected == "x" and seen == ["x", "x"] and sent == ["selected"]  # a valid click is not echoed


def test_select_from_python(graph):
    view = GraphView(*graph)
    seen = []
    view.on_select(seen.append)
    view.select("d")
    assert view.selected == "d" and seen == ["d"]
    with pytest.raises(InvalidArgument, match="node_id") as info:
        view.select("nope")
    assert info.value.argument == "node_id" and view.selected == "d"
    view.select(None)
    assert view.selected == "" and seen == ["d"]
    view.on_select(seen.append, remove=True)
    view.select("a")
    assert seen == ["d"]
    with pytest.raises(InvalidArgument, match="callable"):
        view.on_select("not callable")


def test_empty_graph_and_top_level_export(thumbs):
    view = GraphView([], [])
    assert view.nodes == [] and view.edges == []
    with pytest.raises(InvalidArgument, match="0 nodes"):
        view.select("a")
    from xwidgets import views

    assert views.GraphView is GraphView and "GraphView" in views.__all__

import re
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from xwidgets.core.errors import InvalidArgument
from xwidgets.views import GalleryView


@pytest.fixture
def crops():
    rng = np.random.default_rng(0)
    return {name: rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for name in "abcde"}


@pytest.fixture
def groups(crops):
    return [
        {
            "id": "g1",
            "title": "concept 1",
            "detail": "purity 0.9",
            "colour": "#1f77b4",
            "items": [
                {
                    "id": "a",
                    "image": crops["a"],
                    "caption": "0.97",
                    "detail": "image 12",
                    "boxes": [
                        {"x0": 2, "y0": 1.5, "x1": 10, "y1": 12, "colour": "#d62728"},
                        {"x0": 0, "y0": 0, "x1": 16, "y1": 12},
                    ],
                },
                {"id": "b", "image": torch.rand(3, 12, 16)},
            ],
        },
        {"id": "g2", "items": [{"id": "c", "image": Image.fromarray(crops["c"]), "caption": "0.5"}]},
        {"id": "g3", "title": "empty"},
    ]


def _front_end_update(view, **state):
    """What the comm delivers when the browser changes traits (the real ipywidgets message path)."""
    view._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def _record_messages(view):
    """Replace ``view.send_state`` by a recorder; returns the list of key sets sent to the browser."""
    sent, send_state = [], view.send_state

    def record(key=None):
        sent.append(None if key is None else set([key] if isinstance(key, str) else key))
        send_state(key)

    view.send_state = record
    return sent


def _recorder(view):
    """Register an on_select callback recording ``(group, item)`` and the traits it saw when called."""
    seen = []
    view.on_select(lambda group, item: seen.append((group, item, view.selected_group, view.selected_item)))
    return seen


def test_each_item_travels_as_png_at_its_own_size(groups, crops):
    view = GalleryView(groups, title="concepts", thumbnail_size=64, wrap=True)
    assert [g["id"] for g in view.groups] == ["g1", "g2", "g3"]
    a = view.groups[0]["items"][0]
    assert isinstance(a["image"], bytes) and a["image"][:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(BytesIO(a["image"]))), crops["a"])
    assert np.array_equal(np.asarray(Image.open(BytesIO(view.groups[1]["items"][0]["image"]))), crops["c"])
    sizes = [(i["width"], i["height"]) for g in view.groups for i in g["items"]]
    assert sizes == [(16, 12)] * 3
    assert (view.title, view.thumbnail_size, view.wrap) == ("concepts", 64, True)
    assert (view.selected_group, view.selected_item) == ("", "")


def test_traits_hold_the_groups_with_defaults_filled_in(groups):
    view = GalleryView(groups)
    g1, g2, g3 = view.groups
    assert {k: g1[k] for k in ("id", "title", "detail", "colour")} == {
        "id": "g1",
        "title": "concept 1",
        "detail": "purity 0.9",
        "colour": "#1f77b4",
    }
    assert {k: g2[k] for k in ("title", "detail", "colour")} == {"title": "", "detail": "", "colour": "#8c959f"}
    assert g3["items"] == [] and g3["title"] == "empty"
    a, b = g1["items"]
    assert (a["caption"], a["detail"]) == ("0.97", "image 12")
    assert a["boxes"] == [
        {"x0": 2.0, "y0": 1.5, "x1": 10.0, "y1": 12.0, "colour": "#d62728"},
        {"x0": 0.0, "y0": 0.0, "x1": 16.0, "y1": 12.0, "colour": "#ffcc00"},
    ]
    assert all(isinstance(a["boxes"][0][k], float) for k in ("x0", "y0", "x1", "y1"))
    assert {k: b[k] for k in ("caption", "detail", "boxes")} == {"caption": "", "detail": "", "boxes": []}
    assert set(g1) == {"id", "title", "detail", "colour", "items"}
    assert set(a) == {"id", "image", "width", "height", "caption", "detail", "boxes"}
    assert (GalleryView([]).thumbnail_size, GalleryView([]).wrap, GalleryView([]).title) == (96, False, "")


def test_png_bytes_are_sent_as_binary_buffers(groups):
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(GalleryView(groups).get_state())
    assert paths == [
        ["groups", 0, "items", 0, "image"],
        ["groups", 0, "items", 1, "image"],
        ["groups", 1, "items", 0, "image"],
    ]
    assert all(bytes(buffer)[:4] == b"\x89PNG" for buffer in buffers)
    assert "image" not in state["groups"][0]["items"][0]  # the JSON part carries no pixels


def test_image_forms_and_sizes_are_kept():
    view = GalleryView(
        [
            {
                "id": "g",
                "items": [
                    {"id": "chw", "image": torch.rand(1, 3, 5, 7)},
                    {"id": "float", "image": np.full((9, 4, 3), 0.5, np.float32)},
                ],
            }
        ]
    )
    items = view.groups[0]["items"]
    assert [(i["width"], i["height"]) for i in items] == [(7, 5), (4, 9)]
    assert np.asarray(Image.open(BytesIO(items[1]["image"])))[0, 0].tolist() == [128, 128, 128]


def _group(groups, index, **changes):
    out = [dict(g) for g in groups]
    out[index].update(changes)
    return out


def _item(groups, index, item, **changes):
    out = [dict(g, items=[dict(i) for i in g.get("items", [])]) for g in groups]
    out[index]["items"][item].update(changes)
    return out


def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


def _box(groups, **changes):
    return _item(groups, 0, 0, boxes=[dict({"x0": 2, "y0": 1, "x1": 10, "y1": 12}, **changes)])


@pytest.mark.parametrize(
    "mutate, argument, message",
    [
        (lambda g: "g1", "groups", "a list of dicts"),
        (lambda g: {"id": "g1"}, "groups", "a list of dicts"),
        (lambda g: g + [["not", "a", "dict"]], "groups[3]", "a dict"),
        (lambda g: [_without(g[0], "id")] + g[1:], "groups[0]['id']", "no id"),
        (lambda g: _group(g, 1, id=2), "groups[1]['id']", "non-empty str"),
        (lambda g: _group(g, 1, id=""), "groups[1]['id']", "non-empty str"),
        (lambda g: _group(g, 2, id="g1"), "groups[2]['id']", "already the id of groups[0]"),
        (lambda g: _group(g, 0, color="red"), "groups[0]", "only the keys id, title, detail, colour, items"),
        (lambda g: _group(g, 0, title=1), "groups[0]['title']", "a str"),
        (lambda g: _group(g, 1, detail=None), "groups[1]['detail']", "a str"),
        (lambda g: _group(g, 0, colour=" "), "groups[0]['colour']", "CSS colour"),
        (lambda g: _group(g, 1, items="abc"), "groups[1]['items']", "a list of dicts"),
        (lambda g: _group(g, 1, items=[3]), "groups[1]['items'][0]", "a dict"),
        (
            lambda g: _group(g, 1, items=[{"image": np.zeros((4, 4, 3), np.uint8)}]),
            "groups[1]['items'][0]['id']",
            "no id",
        ),
        (lambda g: _item(g, 0, 1, id=5), "groups[0]['items'][1]['id']", "non-empty str"),
        (lambda g: _item(g, 0, 1, id="a"), "groups[0]['items'][1]['id']", "already the id of groups[0]['items'][0]"),
        (lambda g: _item(g, 1, 0, id="b"), "groups[1]['items'][0]['id']", "already the id of groups[0]['items'][1]"),
        (lambda g: _item(g, 0, 0, label="x"), "groups[0]['items'][0]", "only the keys"),
        (lambda g: _group(g, 1, items=[{"id": "z"}]), "groups[1]['items'][0]['image']", "no image"),
        (lambda g: _item(g, 0, 1, image=None), "groups[0]['items'][1]['image']", "no image"),
        (
            lambda g: _item(g, 0, 1, image=np.zeros((2, 4, 4, 3), np.uint8)),
            "groups[0]['items'][1]['image']",
            "single image",
        ),
        (lambda g: _item(g, 1, 0, image="/no/such/file.png"), "groups[1]['items'][0]['image']", "not a file"),
        (lambda g: _item(g, 0, 0, caption=0.97), "groups[0]['items'][0]['caption']", "a str"),
        (lambda g: _item(g, 0, 0, detail=["x"]), "groups[0]['items'][0]['detail']", "a str"),
        (lambda g: _item(g, 0, 0, boxes={"x0": 1}), "groups[0]['items'][0]['boxes']", "a list of dicts"),
        (lambda g: _item(g, 0, 0, boxes=[(1, 1, 4, 4)]), "groups[0]['items'][0]['boxes'][0]", "a dict"),
        (
            lambda g: _item(g, 0, 0, boxes=[{"x0": 1, "y0": 1, "x1": 4}]),
            "groups[0]['items'][0]['boxes'][0]['y1']",
            "no y1",
        ),
        (lambda g: _box(g, x0=float("nan")), "groups[0]['items'][0]['boxes'][0]['x0']", "finite number in [0, 16]"),
        (lambda g: _box(g, y1=float("inf")), "groups[0]['items'][0]['boxes'][0]['y1']", "in [0, 12]"),
        (lambda g: _box(g, x1=True), "groups[0]['items'][0]['boxes'][0]['x1']", "finite number"),
        (lambda g: _box(g, x1="10"), "groups[0]['items'][0]['boxes'][0]['x1']", "finite number"),
        (lambda g: _box(g, x1=17), "groups[0]['items'][0]['boxes'][0]['x1']", "pixels of the 16x12 image"),
        (lambda g: _box(g, y0=-1), "groups[0]['items'][0]['boxes'][0]['y0']", "in [0, 12]"),
        (lambda g: _box(g, x0=10), "groups[0]['items'][0]['boxes'][0]", "x0 < x1"),
        (lambda g: _box(g, y0=12), "groups[0]['items'][0]['boxes'][0]", "y0 < y1"),
        (lambda g: _box(g, colour=""), "groups[0]['items'][0]['boxes'][0]['colour']", "CSS colour"),
        (lambda g: _box(g, width=3), "groups[0]['items'][0]['boxes'][0]", "only the keys x0, y0, x1, y1, colour"),
    ],
)
def test_bad_groups_name_the_argument(groups, mutate, argument, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)) as info:
        GalleryView(mutate(groups))
    assert info.value.argument == argument
    assert str(info.value).startswith(argument + ":")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"thumbnail_size": 8}, "thumbnail_size"),
        ({"thumbnail_size": 513}, "thumbnail_size"),
        ({"thumbnail_size": 64.5}, "thumbnail_size"),
        ({"thumbnail_size": True}, "thumbnail_size"),
        ({"title": 3}, "title"),
        ({"wrap": "yes"}, "wrap"),
        ({"wrap": 1}, "wrap"),
        ({"selected_group": "zz"}, "selected_group"),
        ({"selected_group": 1}, "selected_group"),
        ({"selected_item": "zz"}, "selected_item"),
        ({"selected_group": "g2", "selected_item": "a"}, "selected_item"),
    ],
)
def test_bad_settings(groups, kwargs, argument):
    with pytest.raises(InvalidArgument) as info:
        GalleryView(groups, **kwargs)
    assert info.value.argument == argument


def test_thumbnail_size_bounds_are_inclusive(groups):
    assert GalleryView(groups, thumbnail_size=16).thumbnail_size == 16
    assert GalleryView(groups, thumbnail_size=512).thumbnail_size == 512


def test_initial_selection(groups):
    view = GalleryView(groups, selected_item="c")
    assert (view.selected_group, view.selected_item) == ("g2", "c")  # an item implies its group
    view = GalleryView(groups, selected_group="g1", selected_item="b")
    assert (view.selected_group, view.selected_item) == ("g1", "b")
    view = GalleryView(groups, selected_group="g3")
    assert (view.selected_group, view.selected_item) == ("g3", "")


def test_settings_are_checked_after_construction_too(groups):
    view = GalleryView(groups, selected_group="g1")
    with pytest.raises(InvalidArgument, match="thumbnail_size"):
        view.thumbnail_size = 4
    with pytest.raises(InvalidArgument, match="selected_group"):
        view.selected_group = "zz"
    with pytest.raises(InvalidArgument, match="selected_item"):
        view.selected_item = "zz"
    assert (view.thumbnail_size, view.selected_group, view.selected_item) == (96, "g1", "")
    view.thumbnail_size = 200
    assert view.thumbnail_size == 200


def test_failed_construction_leaves_no_widget(groups):
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    for bad in (_item(groups, 0, 1, id="a"), _box(groups, x1=99)):
        with pytest.raises(InvalidArgument):
            GalleryView(bad)
    with pytest.raises(InvalidArgument):
        GalleryView(groups, selected_item="zz")
    with pytest.raises(InvalidArgument):
        GalleryView(groups, thumbnail_size=2)
    assert set(_instances) == before


def test_set_groups_replaces_everything_in_one_message(groups):
    view = GalleryView(groups[:1], selected_item="a")
    sent = _record_messages(view)
    view.set_groups(groups, selected_item="c")
    assert [g["id"] for g in view.groups] == ["g1", "g2", "g3"]
    assert (view.selected_group, view.selected_item) == ("g2", "c")
    assert sent == [{"groups", "selected_group", "selected_item"}]


@pytest.mark.parametrize(
    "selection, new_groups, kept",
    [
        (("g1", "a"), lambda g: g, ("g1", "a")),  # still there
        (("g1", "a"), lambda g: [g[1], {"id": "g9", "items": g[0]["items"]}], ("g9", "a")),  # the item moved group
        (("g1", "a"), lambda g: [dict(g[0], items=g[0]["items"][1:])] + g[1:], ("g1", "")),  # item gone, group kept
        (("g2", ""), lambda g: g[1:], ("g2", "")),
        (("g1", "b"), lambda g: g[1:], ("", "")),  # both gone
        (("g3", ""), lambda g: g[:2], ("", "")),
    ],
)
def test_set_groups_keeps_a_surviving_selection_and_clears_the_rest(groups, selection, new_groups, kept):
    view = GalleryView(groups, selected_group=selection[0], selected_item=selection[1])
    view.set_groups(new_groups(groups))
    assert (view.selected_group, view.selected_item) == kept


def test_set_groups_validates_and_changes_nothing_on_error(groups):
    view = GalleryView(groups, selected_item="b", title="t")
    before = (view.groups, view.selected_group, view.selected_item)
    seen = _recorder(view)
    sent = _record_messages(view)
    with pytest.raises(InvalidArgument, match=re.escape("groups[1]['items'][0]['boxes'][0]['x1']")):
        view.set_groups(_item(groups, 1, 0, boxes=[{"x0": 0, "y0": 0, "x1": 99, "y1": 1}]))
    with pytest.raises(InvalidArgument, match="selected_item"):
        view.set_groups(groups, selected_item="zz")
    with pytest.raises(InvalidArgument, match="selected_group"):
        view.set_groups(groups[1:], selected_group="g1")
    with pytest.raises(InvalidArgument, match="groups"):
        view.set_groups(None)
    assert (view.groups, view.selected_group, view.selected_item) == before
    assert seen == [] and sent == []


def test_a_click_on_an_item_fires_on_select_exactly_once(groups):
    view = GalleryView(groups)
    seen = _recorder(view)
    _front_end_update(view, selected_group="g1", selected_item="b")
    assert (view.selected_group, view.selected_item) == ("g1", "b")
    assert seen == [("g1", "b", "g1", "b")]  # once, with both traits already set
    _front_end_update(view, selected_item="a")  # same group: the browser sends only what changed
    _front_end_update(view, selected_group="g2", selected_item="c")
    assert seen[1:] == [("g1", "a", "g1", "a"), ("g2", "c", "g2", "c")]


def test_a_click_on_a_header_fires_on_select_with_no_item(groups):
    view = GalleryView(groups, selected_item="a")
    seen = _recorder(view)
    _front_end_update(view, selected_item="")  # header of the group already selected
    _front_end_update(view, selected_group="g3", selected_item="")
    assert seen == [("g1", "", "g1", ""), ("g3", "", "g3", "")]
    _front_end_update(view, selected_group="", selected_item="")  # clearing calls nothing
    assert seen == [("g1", "", "g1", ""), ("g3", "", "g3", "")]
    _front_end_update(view, selected_group="g3")  # selected again after clearing: called again
    assert (view.selected_group, view.selected_item) == ("g3", "")
    assert seen == [("g1", "", "g1", ""), ("g3", "", "g3", ""), ("g3", "", "g3", "")]


def test_a_click_on_something_removed_meanwhile_clears_the_selection(groups, crops):
    view = GalleryView(groups, selected_item="b")
    seen = _recorder(view)
    view.set_groups([{"id": "k", "items": [{"id": "x", "image": crops["a"]}]}], selected_item="x")
    assert seen == [("k", "x", "k", "x")]
    sent = _record_messages(view)
    _front_end_update(view, selected_group="g2", selected_item="c")  # clicked before the new groups arrived
    assert (view.selected_group, view.selected_item) == ("", "")
    assert seen == [("k", "x", "k", "x")]
    assert {"selected_group", "selected_item"} <= set().union(*sent)  # the browser is told it is cleared
    sent.clear()
    _front_end_update(view, selected_group="k", selected_item="x")
    assert (view.selected_group, view.selected_item) == ("k", "x")
    assert seen[1:] == [("k", "x", "k", "x")]
    assert not any(s and s & {"selected_group", "selected_item"} for s in sent)  # a valid click is not echoed


def test_select_from_python(groups):
    view = GalleryView(groups)
    seen = _recorder(view)
    sent = _record_messages(view)
    view.select(item="c")
    assert (view.selected_group, view.selected_item) == ("g2", "c")
    assert seen == [("g2", "c", "g2", "c")]
    assert sent == [{"selected_group", "selected_item"}]  # one message
    view.select(group="g1")
    view.select("g1", "b")
    assert seen[1:] == [("g1", "", "g1", ""), ("g1", "b", "g1", "b")]
    view.select("g1", "b")  # unchanged: no callback
    assert len(seen) == 3
    view.select()
    assert (view.selected_group, view.selected_item) == ("", "") and len(seen) == 3


@pytest.mark.parametrize(
    "kwargs, argument, message",
    [
        ({"group": "zz"}, "group", "one of the 3 groups"),
        ({"group": 3}, "group", "one of the 3 groups"),
        ({"item": "zz"}, "item", "one of the 3 items"),
        ({"group": "g2", "item": "a"}, "item", "an item of group 'g2'"),
        ({"group": "zz", "item": "a"}, "group", "one of the 3 groups"),
    ],
)
def test_select_refuses_unknown_ids(groups, kwargs, argument, message):
    view = GalleryView(groups, selected_item="b")
    seen = _recorder(view)
    with pytest.raises(InvalidArgument, match=re.escape(message)) as info:
        view.select(**kwargs)
    assert info.value.argument == argument
    assert (view.selected_group, view.selected_item) == ("g1", "b") and seen == []


def test_assigning_one_selection_trait_keeps_the_pair_consistent(groups):
    view = GalleryView(groups, selected_item="a")
    seen = _recorder(view)
    view.selected_item = "c"  # an item implies its group
    assert (view.selected_group, view.selected_item) == ("g2", "c")
    view.selected_group = "g1"  # a group drops an item it does not hold
    assert (view.selected_group, view.selected_item) == ("g1", "")
    assert seen == [("g2", "c", "g2", "c"), ("g1", "", "g1", "")]


def test_on_select_can_be_removed_and_needs_a_callable(groups):
    view = GalleryView(groups)
    seen = []
    callback = lambda group, item: seen.append((group, item))  # noqa: E731
    view.on_select(callback)
    view.select(item="a")
    view.on_select(callback, remove=True)
    view.select(item="b")
    assert seen == [("g1", "a")]
    with pytest.raises(InvalidArgument, match="callable") as info:
        view.on_select("not callable")
    assert info.value.argument == "callback"


def test_empty_gallery_and_exports():
    view = GalleryView([])
    assert view.groups == []
    with pytest.raises(InvalidArgument, match="0 groups"):
        view.select(group="a")
    import xwidgets
    from xwidgets import views

    assert views.GalleryView is GalleryView and "GalleryView" in views.__all__
    assert xwidgets.GalleryView is GalleryView and "GalleryView" in xwidgets.__all__

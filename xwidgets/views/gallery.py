"""GalleryView: groups of image thumbnails, one group per row, drawn by ``js/src/gallery.js``.

Each group has a header (title, a smaller detail line, a colour swatch and a coloured left border) and its items:
thumbnails with a caption, a tooltip and optional rectangles outlined over the image. Clicking a header selects
the group; clicking a thumbnail selects that item and its group. The ``selected_group`` and ``selected_item``
traits sync both ways and :meth:`GalleryView.on_select` callbacks receive ``(group_id, item_id)``. The view knows
nothing about what a group means: concept cards, visual-summary clusters and image pickers all map onto it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import traitlets

from ..core.errors import invalid
from ._base import ViewWidget
from ._png import encode_image
from ._static import bundle
from ._traits import Bool, Int, Unicode, invalid_trait
from .graph import THUMBNAIL_SIZES, _colour, _entries, _text, _unknown_keys, bounded_int, finite_number

__all__ = ["GalleryView", "GROUP_KEYS", "ITEM_KEYS", "BOX_KEYS", "thumbnail"]

#: Keys a group dict may have; ``id`` is required.
GROUP_KEYS = ("id", "title", "detail", "colour", "items")
#: Keys an item dict may have; ``id`` and ``image`` are required.
ITEM_KEYS = ("id", "image", "caption", "detail", "boxes")
#: Keys a box dict may have; the four coordinates are required.
BOX_KEYS = ("x0", "y0", "x1", "y1", "colour")

DEFAULT_GROUP_COLOUR = "#8c959f"
DEFAULT_BOX_COLOUR = "#ffcc00"


class GalleryView(ViewWidget):
    """Rows of image thumbnails, one row per group, with click-to-select of a group or of one item.

    Args:
        groups: a sequence of dicts, one per row, with keys

            - ``"id"`` (str, non-empty, unique among the groups, required);
            - ``"title"`` (str, default ``""``): the bold header text;
            - ``"detail"`` (str, default ``""``): a second, smaller header line, also the header's tooltip;
            - ``"colour"`` (CSS colour, default a neutral grey): the header swatch and the row's left border;
            - ``"items"`` (sequence of dicts, default empty), each with keys

              - ``"id"`` (str, non-empty, unique across the whole gallery, required);
              - ``"image"`` (required): one image in any form :func:`~xwidgets.core.images.to_batch` accepts
                (HWC uint8/float numpy, CHW/BCHW torch in [0, 1], PIL, path). It is sent as PNG at its own size,
                so pass small crops; the browser fits it, aspect kept, into a ``thumbnail_size`` square;
              - ``"caption"`` (str, default ``""``): the text under the thumbnail;
              - ``"detail"`` (str, default ``""``): the hover tooltip;
              - ``"boxes"`` (sequence of dicts, default empty): rectangles outlined over the thumbnail, each
                ``{"x0", "y0", "x1", "y1"}`` in the image's pixel coordinates (finite numbers with
                ``0 <= x0 < x1 <= width`` and ``0 <= y0 < y1 <= height``) plus ``"colour"`` (CSS colour,
                default ``"#ffcc00"``); they scale with the thumbnail.
        title: a line above the gallery ("" for none).
        thumbnail_size: side of an item's square thumbnail box in CSS px, 16..512.
        wrap: False puts each group's items in one horizontally scrolling row; True wraps them onto as many
            lines as needed (an image picker).
        selected_group: the id of the selected group, or None.
        selected_item: the id of the selected item, or None; it implies its own group, and ``selected_group``,
            when given too, must be that group.

    Traits (synced): ``groups`` (list of dicts as above, every optional key filled in, each item's ``image`` as
    PNG bytes plus the image's ``width`` and ``height`` in pixels, box coordinates as floats), ``title``,
    ``thumbnail_size``, ``wrap``, ``selected_group`` and ``selected_item`` (str, "" for none; a click in the
    browser sets both). Replace the groups with :meth:`set_groups`, not by assigning ``groups``.

    Raises:
        InvalidArgument: naming the offending argument (e.g. ``groups[1]['items'][2]['id']``) for a non-dict
            entry, a missing or non-string id, a duplicate id, an unknown key, a missing or unreadable image, a
            box that is not a finite rectangle inside its image, a bad colour, text, size or selection.
    """

    _esm = bundle("gallery")

    groups = traitlets.List(traitlets.Dict()).tag(sync=True)
    title = Unicode("").tag(sync=True)
    thumbnail_size = Int(96).tag(sync=True)
    wrap = Bool(False).tag(sync=True)
    selected_group = Unicode("").tag(sync=True)
    selected_item = Unicode("").tag(sync=True)

    def __init__(
        self,
        groups: Sequence[Mapping],
        *,
        title: str = "",
        thumbnail_size: int = 96,
        wrap: bool = False,
        selected_group: str | None = None,
        selected_item: str | None = None,
    ):
        wire = _gallery(groups)
        chosen = _selection(wire, selected_group, selected_item, "selected_group", "selected_item")
        if not isinstance(title, str):
            raise invalid("title", title, "a str")
        thumbnail_size = bounded_int("thumbnail_size", thumbnail_size, *THUMBNAIL_SIZES)
        if not isinstance(wrap, bool):
            raise invalid("wrap", wrap, "True or False")
        super().__init__(
            groups=wire,
            title=title,
            thumbnail_size=thumbnail_size,
            wrap=wrap,
            selected_group=chosen[0],
            selected_item=chosen[1],
        )
        self._select_callbacks: list[Callable[[str, str], object]] = []
        self._notified = chosen
        self.observe(self._on_selection, names=["selected_group", "selected_item"])

    # -------------------------------------------------------------------------------------- groups
    def set_groups(
        self, groups: Sequence[Mapping], selected_group: str | None = None, selected_item: str | None = None
    ) -> None:
        """Replace every group in one update (validated like the constructor; nothing changes on error).

        With both ``selected_group`` and ``selected_item`` None the current selection is kept where it still
        exists: an item still in the gallery stays selected (with the group that now holds it); otherwise a group
        still in the gallery stays selected (with no item); otherwise the selection is cleared. Given ids select
        like :meth:`select`.
        """
        wire = _gallery(groups)
        if selected_group is None and selected_item is None:
            owners = _owners(wire)
            if self.selected_item in owners:
                chosen = (owners[self.selected_item], self.selected_item)
            elif any(g["id"] == self.selected_group for g in wire):
                chosen = (self.selected_group, "")
            else:
                chosen = ("", "")
        else:
            chosen = _selection(wire, selected_group, selected_item, "selected_group", "selected_item")
        with self.hold_sync(), self.hold_trait_notifications():
            self.groups = wire
            self.selected_group, self.selected_item = chosen

    # ----------------------------------------------------------------------------------- selection
    def select(self, group: str | None = None, item: str | None = None) -> None:
        """Select a group, or an item and the group holding it (``on_select`` callbacks fire once).

        ``item`` alone selects it with its group; ``group`` alone selects the group with no item; both must agree.
        Both None clears the selection (no callback fires).
        """
        chosen = _selection(self.groups, group, item, "group", "item")
        with self.hold_sync(), self.hold_trait_notifications():
            self.selected_group, self.selected_item = chosen

    def on_select(self, callback: Callable[[str, str], object], remove: bool = False) -> None:
        """Call ``callback(group_id, item_id)`` whenever the selection changes to a group or an item.

        ``item_id`` is ``""`` when a group header was selected. A click in the browser or one :meth:`select`
        calls it once, after both traits hold their new values; clearing the selection calls nothing.
        ``remove=True`` unregisters the callback.
        """
        if not callable(callback):
            raise invalid("callback", callback, "a callable (group_id, item_id)")
        if remove:
            self._select_callbacks = [c for c in self._select_callbacks if c != callback]
        else:
            self._select_callbacks.append(callback)

    def _on_selection(self, change: dict) -> None:
        group, item = self.selected_group, self.selected_item
        owner = _owners(self.groups).get(item, "") if item else ""
        if item and owner != group:
            # one trait was assigned alone: an item implies its group, a group drops an item it does not hold;
            # the assignment below notifies again, with a consistent pair
            if change["name"] == "selected_item":
                self.selected_group = owner
            else:
                self.selected_item = ""
            return
        if (group, item) == self._notified:
            return  # the second trait of the same change: callbacks already saw this pair
        self._notified = (group, item)
        if group:
            for callback in list(self._select_callbacks):
                callback(group, item)

    # ---------------------------------------------------------------------------------- validation
    @traitlets.validate("selected_group")
    def _check_selected_group(self, proposal):
        value = proposal["value"]
        if self._from_browser("selected_group", value) and not any(g["id"] == value for g in self.groups):
            # a click on a group that a newer set_groups removed while the click was in flight: clear it (the
            # kernel then sends "" back) rather than keep an id no callback could use
            return ""
        if value and not any(g["id"] == value for g in self.groups):
            raise invalid_trait("selected_group", repr(value), f"'' or the id of one of the {len(self.groups)} groups")
        return value

    @traitlets.validate("selected_item")
    def _check_selected_item(self, proposal):
        value = proposal["value"]
        owners = _owners(self.groups)
        if self._from_browser("selected_item", value) and value not in owners:
            return ""  # an item removed while the click was in flight, as for selected_group
        if value and value not in owners:
            raise invalid_trait("selected_item", repr(value), f"'' or the id of one of the {len(owners)} items")
        return value

    def _from_browser(self, name: str, value: str) -> bool:
        """Whether ``value`` for trait ``name`` is arriving from the browser (held in ipywidgets' property lock)."""
        lock = getattr(self, "_property_lock", {})
        return name in lock and lock[name] == value

    @traitlets.validate("thumbnail_size")
    def _check_thumbnail_size(self, proposal):
        return bounded_int("thumbnail_size", proposal["value"], *THUMBNAIL_SIZES)


def _gallery(groups: object) -> list[dict]:
    """Validate groups and turn them into the synced form (PNG bytes, every optional key filled in)."""
    wire = [_group(entry, i) for i, entry in enumerate(_entries(groups, "groups"))]
    group_use: dict[str, int] = {}
    item_use: dict[str, tuple[int, int]] = {}
    for i, group in enumerate(wire):
        if group["id"] in group_use:
            raise invalid(
                f"groups[{i}]['id']",
                f"{group['id']!r}, already the id of groups[{group_use[group['id']]}]",
                "ids that are unique among the groups",
            )
        group_use[group["id"]] = i
        for j, item in enumerate(group["items"]):
            if item["id"] in item_use:
                gi, ij = item_use[item["id"]]
                raise invalid(
                    f"groups[{i}]['items'][{j}]['id']",
                    f"{item['id']!r}, already the id of groups[{gi}]['items'][{ij}]",
                    "ids that are unique among all the items of the gallery",
                )
            item_use[item["id"]] = (i, j)
    return wire


def _identifier(entry: Mapping, name: str, among: str) -> str:
    expected = f"a non-empty str, unique among {among}"
    if "id" not in entry:
        raise invalid(f"{name}['id']", "no id", expected)
    value = entry["id"]
    if not isinstance(value, str) or not value:
        raise invalid(f"{name}['id']", value if not isinstance(value, str) else "''", expected)
    return value


def _group(entry: Mapping, index: int) -> dict:
    name = f"groups[{index}]"
    _unknown_keys(entry, name, GROUP_KEYS)
    group_id = _identifier(entry, name, "the groups")
    items = _entries(entry.get("items", ()), f"{name}['items']")
    return {
        "id": group_id,
        "title": _text(entry, "title", name),
        "detail": _text(entry, "detail", name),
        "colour": _colour(entry, name, DEFAULT_GROUP_COLOUR),
        "items": [_item(item, f"{name}['items'][{j}]") for j, item in enumerate(items)],
    }


def _item(entry: Mapping, name: str) -> dict:
    _unknown_keys(entry, name, ITEM_KEYS)
    item_id = _identifier(entry, name, "all the items of the gallery")
    if "image" not in entry or entry["image"] is None:
        raise invalid(f"{name}['image']", "no image", "one image (numpy, torch, PIL or a path)")
    pixels, png = encode_image(entry["image"], name=f"{name}['image']")
    width, height = int(pixels.shape[-1]), int(pixels.shape[-2])
    boxes = _entries(entry.get("boxes", ()), f"{name}['boxes']")
    return {
        "id": item_id,
        "image": png,
        "width": width,
        "height": height,
        "caption": _text(entry, "caption", name),
        "detail": _text(entry, "detail", name),
        "boxes": [_box(box, f"{name}['boxes'][{k}]", width, height) for k, box in enumerate(boxes)],
    }


def _box(entry: Mapping, name: str, width: int, height: int) -> dict:
    _unknown_keys(entry, name, BOX_KEYS)
    corners = {}
    for key, limit in (("x0", width), ("y0", height), ("x1", width), ("y1", height)):
        expected = f"a finite number in [0, {limit}] (pixels of the {width}x{height} image)"
        if key not in entry:
            raise invalid(f"{name}['{key}']", f"no {key}", expected)
        value = entry[key]
        if not finite_number(value) or not 0 <= float(value) <= limit:
            raise invalid(f"{name}['{key}']", value, expected)
        corners[key] = float(value)
    for low, high in (("x0", "x1"), ("y0", "y1")):
        if not corners[low] < corners[high]:
            raise invalid(name, f"{low}={corners[low]:g} and {high}={corners[high]:g}", f"{low} < {high}")
    return {**corners, "colour": _colour(entry, name, DEFAULT_BOX_COLOUR)}


def _owners(groups: Sequence[Mapping]) -> dict[str, str]:
    """item id -> the id of the group holding it, for synced ``groups``."""
    return {item["id"]: group["id"] for group in groups for item in group["items"]}


def _selection(
    groups: Sequence[Mapping], group: object, item: object, group_name: str, item_name: str
) -> tuple[str, str]:
    """``(group, item)`` as a selection of synced ``groups``: ``("", "")`` for none; an item implies its group."""
    if _given(group) and (not isinstance(group, str) or not any(g["id"] == group for g in groups)):
        raise invalid(group_name, repr(group), f"None, '' or the id of one of the {len(groups)} groups")
    if not _given(item):
        return (group if isinstance(group, str) else ""), ""
    owners = _owners(groups)
    if not isinstance(item, str) or item not in owners:
        raise invalid(item_name, repr(item), f"None, '' or the id of one of the {len(owners)} items")
    if _given(group) and group != owners[item]:
        raise invalid(
            item_name,
            f"{item!r}, an item of group {owners[item]!r}",
            f"None, '' or the id of an item of group {group!r}",
        )
    return owners[item], item


def _given(value: object) -> bool:
    """Whether a selection argument names something (anything but None and "")."""
    return value is not None and not (isinstance(value, str) and value == "")


def thumbnail(image: object, side: int) -> np.ndarray:
    """An image (``[3, H, W]`` tensor in [0, 1] or ``[H, W, 3]`` float array) as a uint8 ``[side, side, 3]`` item
    picture, area-averaged."""
    if isinstance(image, torch.Tensor):
        tensor = image
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    small = torch.nn.functional.interpolate(tensor[None].float(), size=(side, side), mode="area")[0]
    return (small.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

"""The patch editor's image: cells that tile the image and match clicks, numbers that never overlap or leave the
image, and a node's patches outlined as one shape."""

import numpy as np
import pytest
import torch

from xwidgets.sag.patch_grid import OUTLINE_COLOUR, draw_patch_grid, number_labels, patch_at, patch_cells


@pytest.mark.parametrize("patches", ["hard", "bilinear"])
@pytest.mark.parametrize("size, grid", [((112, 112), 7), ((30, 45), 4), ((64, 64), 16)])
def test_cells_tile_the_image_and_a_click_lands_in_its_cell(size, grid, patches):
    cells = patch_cells(size, grid, patches)
    assert len(cells) == grid * grid
    height, width = size
    assert sum((right - left) * (bottom - top) for left, top, right, bottom in cells) == pytest.approx(height * width)
    assert cells[0][:2] == (0.0, 0.0) and cells[-1][2:] == (float(width), float(height))
    for y in range(height):
        for x in range(width):
            left, top, right, bottom = cells[patch_at(x, y, size, grid, patches)]
            assert left <= x <= right and top <= y <= bottom, (x, y)


def test_bilinear_border_cells_are_half_as_wide():
    cells = patch_cells((112, 112), 7, "bilinear")
    inner, border = cells[1][2] - cells[1][0], cells[0][2] - cells[0][0]
    assert inner == pytest.approx(111 / 6) and border == pytest.approx(inner / 2)


def _overlap(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize(
    "grid, side, patches, numbered, prefixed",
    [
        (7, 560, "bilinear", 49, True),  # the toy image in the explorer: every patch, as in "P10 & P11"
        (7, 560, "hard", 49, True),
        (10, 560, "bilinear", 100, False),  # "P99" would not fit: numbers only
        (16, 560, "bilinear", 36, False),  # every third row and column
    ],
)
def test_numbers_fit_inside_the_image_and_never_overlap(grid, side, patches, numbered, prefixed):
    cells = patch_cells((side, side), grid, patches)
    labels = number_labels(cells, grid, 24)
    assert len(labels) == numbered
    assert all(text.startswith("P") == prefixed for text, _, _ in labels)
    assert labels[0][0] in ("P0", "0")
    for i, (_, _, box) in enumerate(labels):
        assert min(box[:2]) >= 0 and max(box[2:]) <= side, box
        assert not any(_overlap(box, other) for _, _, other in labels[i + 1 :])
    # each number sits on its own patch's cell (moved inside the image where that cell is at its edge)
    assert all(_overlap(box, cells[int(text.lstrip("P"))]) for text, _, box in labels)


def test_the_image_is_enlarged_and_numbered_only_when_asked():
    image = torch.full((3, 20, 20), 0.5)
    plain = draw_patch_grid(image, 4, "hard", scale=5)
    numbered = draw_patch_grid(image, 4, "hard", scale=5, label_px=12)
    assert plain.shape == numbered.shape == (100, 100, 3) and plain.dtype == np.uint8
    assert plain[2, 2].tolist() == [128, 128, 128]  # the image itself, away from the lines
    assert plain[2, 25].tolist() != [128, 128, 128]  # a grid line between the first two columns
    changed = (np.abs(plain.astype(int) - numbered.astype(int)).max(-1) > 24).mean()
    assert 0.02 < changed < 0.5
    assert numbered.max() == 255 and numbered.min() < 40  # white numbers with a dark outline


def test_a_nodes_patches_are_outlined_as_one_shape():
    image = torch.full((3, 40, 40), 0.5)
    drawn = draw_patch_grid(image, 4, "hard", scale=2, outline=[5, 6])  # row 1, columns 1 and 2
    blue = np.all(np.abs(drawn.astype(int) - OUTLINE_COLOUR[:3]) < 30, axis=-1)
    assert blue[20, 30] and blue[40, 30] and blue[30, 20] and blue[30, 60]  # top, bottom, left and right sides
    assert not blue[30, 40]  # no line between the two patches
    assert not blue[:, :15].any() and not blue[:, 66:].any()  # nothing around the other patches
    plain = draw_patch_grid(image, 4, "hard", scale=2)
    assert not np.all(np.abs(plain.astype(int) - OUTLINE_COLOUR[:3]) < 30, axis=-1).any()

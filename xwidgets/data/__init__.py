"""Image sources for dataset runs: folders, path lists, torch Datasets, tensors and the toy world behind one
interface, with lazy decoding and labels where the source has them.

    import xwidgets as xw
    source = xw.data.folder("imagenet/val")          # class sub-folders -> labels
    source = xw.data.paths(["a.jpg", "b.png"], labels=["cat", "dog"])
    source = xw.data.toy(1000, seed=0)               # the toy world, with ground-truth evidence masks
    image = source.load(0)                           # [3, H, W] float in [0, 1], decoded only here
"""

from .base import ImageSource, SourceItem, UnreadableImage
from .sources import (
    IMAGE_EXTENSIONS,
    PreparedBatch,
    PreparedImages,
    as_source,
    collate_prepared,
    folder,
    from_description,
    paths,
    prepared_size,
    torch_dataset,
    toy,
)

__all__ = [
    "SourceItem",
    "ImageSource",
    "UnreadableImage",
    "IMAGE_EXTENSIONS",
    "folder",
    "paths",
    "torch_dataset",
    "toy",
    "as_source",
    "from_description",
    "PreparedImages",
    "PreparedBatch",
    "collate_prepared",
    "prepared_size",
]

"""Dataset runs: explain every image of a source, store the results, read them back.

    run = xw.explain_dataset(model, xw.data.toy(1000), method="igos", store="runs/toy-igos")
    run = xw.open_run("runs/toy-igos")          # lazily: records as Parquet, maps in Zarr
    xw.DatasetExplorer(run)                      # browse it (imports the widget libraries)

The kernels here are headless: :mod:`~xwidgets.runs.records` (the per-shard kernel), the engines
(:mod:`~xwidgets.runs.local`, :mod:`~xwidgets.runs.ray_engine`) and the store (:mod:`~xwidgets.runs.store`).
Only :mod:`~xwidgets.runs.explorer` is a widget, imported when ``DatasetExplorer`` is first asked for.
"""

from .explain import explain_dataset
from .features import cached_features  # registers Run as data of the dataset-level methods
from .store import Run, open_run

__all__ = ["explain_dataset", "open_run", "Run", "cached_features", "DatasetExplorer"]


def __getattr__(name: str):
    if name == "DatasetExplorer":
        from .explorer import DatasetExplorer

        return DatasetExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

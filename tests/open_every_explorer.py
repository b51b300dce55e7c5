"""Open every explorer on the toy world without Jupyter, in the fresh venv of tests/test_packaging.py.

Each explorer is built with small parameters and its first run awaited, so that imports made only while a kernel
runs (scipy, scikit-image, scikit-learn) are exercised too.

Prints where xwidgets was imported from and ``opened <Explorer>`` per explorer, then ``refused a dataset run: ...``
(a run needs the ``datasets`` extra, which the wheel alone does not pull in); exits non-zero (with the traceback) on
the first failure.
"""

import warnings

import numpy as np
import torch

import xwidgets as xw


def heatmap(model, data):
    return xw.HeatmapExplorer(
        model, data.samples[0].image, method="gradcam", compare="rise", compare_params={"masks": 64}
    ).wait(120)


def sag(model, data):
    return xw.SAGExplorer(model, data.samples[0].image, params={"max_roots": 1}).wait(120)


def concepts(model, data):
    return xw.ConceptExplorer(model, data.images(), target="spotwing", params={"retries": 0, "epochs": 5}).wait(120)


def summaries(model, data):
    world = xw.toy.ToyWorld()
    thrush = [s.name for s in world.species].index("ember thrush")
    images = np.stack([world.sample(thrush, seed=9630 + i).image for i in range(6)])
    params = {"smooth_iterations": 10, "sharp_iterations": 10}
    return xw.SummaryExplorer(model, images, "ember thrush", mask_params=params).wait(120)


def text(model, data):
    text_model = xw.text.fit(model, data.images(), captions=xw.toy.captions(data))
    return xw.TextExplorer(text_model, data.images()[:4])


def match(model, data):
    embedder, attributes = xw.toy.embedder(), xw.toy.attribute_model()
    return xw.MatchExplorer(embedder, data.images()[:4], attributes, params={"masks": 64}).wait(120)


OPENERS = {
    "HeatmapExplorer": heatmap,
    "SAGExplorer": sag,
    "ConceptExplorer": concepts,
    "SummaryExplorer": summaries,
    "TextExplorer": text,
    "MatchExplorer": match,
}


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("error", xw.XWidgetsDeprecationWarning)  # no explorer calls an old name
    print("xwidgets from", xw.__file__, flush=True)
    model, data = xw.toy.classifier(), xw.toy.dataset(44, seed=9801)
    for name, opener in OPENERS.items():
        explorer = opener(model, data)
        assert type(explorer).__name__ == name, type(explorer).__name__
        explorer.close()
        print("opened", name, flush=True)
    try:  # the DatasetExplorer's runs need the datasets extra, which the wheel alone does not install
        xw.explain_dataset(model, data, method="gradcam", store="dataset-run", progress=False)
    except xw.XWidgetsError as error:
        print("refused a dataset run:", str(error).split(" (")[0], flush=True)


if __name__ == "__main__":
    main()

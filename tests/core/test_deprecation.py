"""Every deprecation xwidgets raises is an ``xw.XWidgetsDeprecationWarning`` (issue 18), a DeprecationWarning that
names the new call; pyproject.toml turns it into an error in the tests, so a test that calls an old name fails
unless it expects the warning (``pytest.warns``)."""

import ast
import contextlib
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.toy import ToyWorld

PACKAGE = Path(xw.__file__).parent


@pytest.fixture(scope="module")
def toy():
    images = np.stack([s.image for s in ToyWorld().samples(2, seed=9310)])
    return xw.toy.classifier(), xw.toy.embedder(), images


def _old_calls(classifier, embedder, images) -> dict:
    """One call of each deprecated name, as cheap as it can be made (a call may fail after its warning)."""
    quick = {"window": 56, "stride": 56, "progress": False}
    return {
        "xw.heatmaps.explain": lambda: xw.heatmaps.explain(classifier, images, "gradcam"),
        "xw.explain(model, images, method)": lambda: xw.explain(classifier, images, "gradcam"),
        "xw.heatmaps.METHODS": lambda: xw.heatmaps.METHODS,
        "xw.similarity.PAIR_PARAMS": lambda: xw.similarity.PAIR_PARAMS,
        "xw.similarity.SALIENCY_METHODS": lambda: xw.similarity.SALIENCY_METHODS,
        "xw.similarity.MATCH_PARAMS": lambda: xw.similarity.MATCH_PARAMS,
        "xw.similarity.pair_saliency": lambda: xw.similarity.pair_saliency(
            embedder, images[:1], images[1:], method="sliding_window", **quick
        ),
        "xw.similarity.explain_match": lambda: xw.similarity.explain_match(
            embedder, images[:1], images[1:], xw.toy.attribute_model(), method="sliding_window", **quick
        ),
        "MatchExplorer(method='rise')": lambda: xw.MatchExplorer(
            embedder, images, xw.toy.attribute_model(), method="rise", run=False
        ).close(),
        "xw.summaries.SummaryPipeline": lambda: xw.summaries.SummaryPipeline(classifier, images, 0),
        "xw.concepts.fit(images=...)": lambda: xw.concepts.fit(
            classifier, images=images, target=0, layer="no.such.layer"
        ),
        "xw.text.fit(model, images, captions)": lambda: xw.text.fit(
            classifier, images, [["a red head"], ["a red head"]], layer="no.such.layer"
        ),
        "xw.text.toy_captions (a moved name)": lambda: xw.text.toy_captions,
        "xw.concepts.default_layer (a moved name)": lambda: xw.concepts.default_layer,
    }


OLD_CALLS = list(_old_calls(None, None, None))


def test_the_warning_class_is_a_deprecation_warning_exported_from_xw_and_core():
    assert issubclass(xw.XWidgetsDeprecationWarning, DeprecationWarning)
    assert xw.XWidgetsDeprecationWarning is xw.core.XWidgetsDeprecationWarning
    assert "XWidgetsDeprecationWarning" in xw.__all__ and "XWidgetsDeprecationWarning" in xw.core.__all__
    assert "names the new one" in xw.XWidgetsDeprecationWarning.__doc__


@pytest.mark.parametrize("name", OLD_CALLS)
def test_every_old_name_warns_with_the_xwidgets_class(toy, name):
    call = _old_calls(*toy)[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.suppress(xw.XWidgetsError):
            call()
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecations, f"{name} gave no DeprecationWarning"
    assert all(w.category is xw.XWidgetsDeprecationWarning for w in deprecations), [
        (w.category.__name__, str(w.message)) for w in deprecations
    ]
    assert all(re.search(r"[:;] (use|pass) |moved to |the call shape is ", str(w.message)) for w in deprecations)
    assert all(Path(w.filename) == Path(__file__) for w in deprecations), [w.filename for w in deprecations]


def test_no_module_warns_with_a_plain_deprecation_category():
    """No ``warnings.warn`` in the package uses a bare DeprecationWarning, PendingDeprecationWarning or
    FutureWarning (the tests' error filter would miss it)."""
    plain = {"DeprecationWarning", "PendingDeprecationWarning", "FutureWarning"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "warnings.warn":
                category = (
                    node.args[1]
                    if len(node.args) > 1
                    else next((k.value for k in node.keywords if k.arg == "category"), None)
                )
                if category is not None and ast.unparse(category) in plain:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


def test_an_old_name_outside_pytest_warns_fails_the_test(toy):
    """pyproject.toml's filterwarnings makes the warning an error, so no test uses an old name by accident."""
    classifier, _, images = toy
    with pytest.raises(xw.XWidgetsDeprecationWarning, match=r"xw\.heatmaps\.METHODS is deprecated"):
        _ = xw.heatmaps.METHODS
    with pytest.raises(xw.XWidgetsDeprecationWarning, match="passes the method as the target"):
        xw.explain(classifier, images, "gradcam")

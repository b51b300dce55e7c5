"""The one call shape: xw.explain and xw.fit dispatch through the registry, refuse the wrong kind of method by name,
and the README's example of them runs as written."""

import doctest
import re
import warnings
from pathlib import Path

import pytest

import xwidgets as xw
from xwidgets.core.methods import get_spec, specs

README = Path(__file__).parents[1] / "README.md"


def test_every_kind_is_registered_and_listed():
    assert set(xw.methods("heatmap")) == {"igos", "igospp", "gradcam", "integrated_gradients", "rise", "occlusion"}
    assert xw.methods("graph") == ["sag"]
    assert set(xw.methods("pair")) == {"pair_rise", "pair_sliding_window", "pair_mask", "sane"}
    assert set(xw.methods("dataset")) == {"concepts", "summaries", "text"}
    assert sorted(xw.methods()) == sorted(s.name for s in specs())
    for spec in specs():
        assert spec.kernel.spec is spec  # the decorator hands the spec to its kernel


def test_the_example_in_help_explain_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(xw.explain, "explain", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 5


def test_the_wrong_entry_point_is_refused_with_the_right_one_named():
    model = xw.toy.classifier()
    image = xw.toy.dataset(1, seed=3).images()
    with pytest.raises(xw.XWidgetsError, match=r"method.*'concepts' is a dataset-level method: run it with xw\.fit"):
        xw.explain(model, image, method="concepts")
    with pytest.raises(xw.XWidgetsError, match=r"method.*'gradcam' is a heatmap method: run it with xw\.explain"):
        xw.fit(model, image, method="gradcam")
    with pytest.raises(xw.XWidgetsError, match=r"method.*'igoss'.*did you mean 'igos'"):
        xw.explain(model, image, method="igoss")
    with pytest.raises(xw.XWidgetsError, match=r"reference.*no reference: 'gradcam' is a heatmap method"):
        xw.explain(model, image, method="gradcam", reference=image)
    with pytest.raises(xw.XWidgetsError, match=r"reference.*the reference images of the pair method 'pair_rise'"):
        xw.explain(xw.toy.embedder(), image, method="pair_rise")
    with pytest.raises(xw.XWidgetsError, match=r"target.*None: the pair method 'pair_rise' explains the similarity"):
        xw.explain(xw.toy.embedder(), image, 3, method="pair_rise", reference=image)


def test_the_old_positional_method_still_works_and_warns():
    model = xw.toy.classifier()
    image = xw.toy.dataset(1, seed=3).images()
    with pytest.warns(DeprecationWarning, match="passes the method as the target"):
        old = xw.explain(model, image, "gradcam")
    assert old.method == "gradcam"
    assert get_spec("gradcam").kernel(model, image, progress=False).saliency.equal(old.saliency)


def test_the_readme_example_of_the_one_call_shape_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text.split("## One call shape", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the README shows no deprecated name
        warnings.simplefilter("ignore", UserWarning)
        namespace: dict = {}
        exec(compile(code.replace("k=5)", "k=3, epochs=20, retries=0)"), "README", "exec"), namespace)
    assert (tmp_path / "igos.pdf").stat().st_size > 0 and (tmp_path / "igos.xwr").is_file()
    assert namespace["match"].method == "sane" and namespace["space"].k == 3


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_every_method_names_an_explorer_on_the_base_with_its_render_hook(spec):
    from xwidgets.views.explorer import Explorer

    explorer = spec.explorer_class()
    package = spec.explorer.split(":")[0].rsplit(".", 1)[0]
    assert issubclass(explorer, Explorer) and callable(getattr(explorer, spec.render, None)), spec.explorer
    assert getattr(xw, explorer.__name__) is explorer  # exported from xw ...
    assert getattr(__import__(package, fromlist=["_"]), explorer.__name__) is explorer  # ... and from its package

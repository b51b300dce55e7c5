"""The one call shape of the text method: ``xw.text.fit(model, data, target=None, *, captions=...)`` and
``xw.fit(..., method="text")``; the target restricts the explanation to one class; the old positional captions
still work for one release."""

import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument


def test_text_is_a_registered_dataset_method_reached_by_xw_fit(toy_model, captioned, captioned_features):
    spec = xw.core.methods.get_spec("text", kinds=("dataset",))
    assert (spec.title, spec.docs, spec.inputs) == ("Textual explanation", "text.md", ("captions",))
    assert "text" in xw.methods("dataset") and "text (Textual explanation" in xw.fit.__doc__
    fitted = xw.fit(toy_model, None, method="text", captions=xw.toy.captions(captioned), features=captioned_features)
    assert isinstance(fitted, xw.text.TextModel) and fitted.target is None


def test_without_a_target_each_image_is_explained_for_its_top_1_class(text_model, toy_model, held_out):
    images = held_out.images()[:12]
    explanation = text_model.explain(images)
    assert explanation.classes.tolist() == toy_model(images).argmax(1).tolist()
    assert all(s.startswith("This is a") and " because it has " in s for s in explanation.sentences)


def test_a_target_restricts_the_explanation_to_that_class(toy_model, captioned, captioned_features, held_out, tmp_path):
    goldcap = toy_model.labels.index("goldcap")
    fitted = xw.text.fit(toy_model, captions=xw.toy.captions(captioned), features=captioned_features, target="goldcap")
    assert fitted.target == goldcap and fitted.params["target"] == goldcap
    images = held_out.images()[:22]
    explanation = fitted.explain(images)
    predicted = toy_model(images).argmax(1).tolist()
    assert explanation.classes.tolist() == [goldcap] * 22
    assert goldcap in predicted and any(p != goldcap for p in predicted)
    for sentence, top in zip(explanation.sentences, predicted):
        if top == goldcap:
            assert sentence.startswith("This is a goldcap because it has ")
        else:  # another bird is not called a goldcap: the sentence says what it is, then the goldcap evidence
            article = "an" if toy_model.labels[top][0] in "aeiou" else "a"
            assert sentence.startswith(
                f"This is not a goldcap but {article} {toy_model.labels[top]}; of a goldcap it has "
            )
    assert xw.text.TextModel.load(fitted.save(tmp_path / "text.xwr")).target == goldcap
    with pytest.raises(InvalidArgument, match="target: got 'dodo'"):
        xw.text.fit(toy_model, captions=xw.toy.captions(captioned), features=captioned_features, target="dodo")


def test_the_old_positional_captions_still_work_with_a_deprecation_warning(toy_model):
    data = xw.toy.dataset(22, seed=9719)
    captions = xw.toy.captions(data)
    with pytest.warns(DeprecationWarning, match="captions=..."):
        old = xw.text.fit(toy_model, data, captions, layer="features", min_images=1, progress=False)
    new = xw.text.fit(toy_model, data, captions=captions, layer="features", min_images=1, progress=False)
    assert old.attributes == new.attributes and old.target is None
    assert torch.allclose(old.attribute_given_filter, new.attribute_given_filter)

"""The estimator: p(a|f) by marginalisation, the decision level, sentences, grounding, save/load, bad input."""

import threading

import pytest
import torch

import xwidgets as xw
from xwidgets.concepts import Features
from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.text import TextModel, build_vocabulary, compose_sentence


def hand_features(model):
    # filter 0 fires above its mean only on image 0, filter 1 only on image 1, filter 2 is constant (dead)
    responses = torch.tensor([[3.0, 0.0, 1.0], [1.0, 2.0, 1.0], [2.0, 1.0, 1.0]])
    return Features(
        method="features",
        params={},
        features=responses,
        logits=torch.zeros(3, 11),
        layer="features",
        layer_shape=[3, 1, 1],
        model_name=model.name,
    )


HAND_CAPTIONS = [["a red head"], ["blue wings"], ["a red head and blue wings"]]


def test_filter_distributions_marginalise_the_latent_image(toy_model):
    fitted = xw.text.fit(toy_model, captions=HAND_CAPTIONS, features=hand_features(toy_model), min_images=1)
    assert fitted.attributes == ["red head", "blue wing"]
    assert torch.allclose(fitted.filter_mean, torch.tensor([2.0, 1.0, 1.0]))
    assert torch.allclose(fitted.prior, torch.tensor([0.5, 0.5]))
    # p(x|f0) = [1, 0, 0] and p(x|f1) = [0, 1, 0]: each filter inherits its image's caption distribution
    assert torch.allclose(fitted.attribute_given_filter[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(fitted.attribute_given_filter[1], torch.tensor([0.0, 1.0]))
    assert fitted.alive.tolist() == [True, True, False]
    assert torch.allclose(fitted.attribute_given_filter[2], fitted.prior)  # a dead filter learns nothing
    # Bayes through the network: p(f|x) ∝ excess / Z over live filters
    posterior = fitted.filter_posterior(torch.tensor([[3.0, 2.0, 5.0], [0.0, 0.0, 0.0]]))
    assert torch.allclose(posterior[0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(posterior[1], torch.tensor([0.5, 0.5, 0.0]))  # below every mean: uniform


def test_toy_fit_gives_distributions(text_model, captioned):
    assert text_model.described == text_model.images == len(captioned)
    assert torch.allclose(text_model.attribute_given_filter.sum(1), torch.ones(64), atol=1e-5)
    assert abs(float(text_model.prior.sum()) - 1) < 1e-5
    assert 60 <= len(text_model.attributes) <= 90 and text_model.layer == "features"


def test_decision_level_mixes_filters_by_their_contribution(text_model, toy_model, held_out):
    images = held_out.images()[:6]
    explanation = text_model.explain(images)
    head = toy_model.module.head.weight.detach()
    responses = xw.concepts.extract_features(toy_model, images, "features").features
    # a global-average-pool + linear network: contribution = response x class weight, exactly
    expected = responses * head[explanation.classes]
    assert torch.allclose(explanation.contributions, expected, atol=1e-4)
    assert torch.equal(explanation.classes, toy_model(images).argmax(1).cpu())
    weights = expected.clamp_min(0) / expected.clamp_min(0).sum(1, keepdim=True)
    assert torch.allclose(explanation.filter_weights, weights, atol=1e-5)
    assert torch.allclose(explanation.attribute_probabilities, weights @ text_model.attribute_given_filter, atol=1e-5)
    assert torch.allclose(explanation.lift, explanation.attribute_probabilities / text_model.prior, atol=1e-4)
    assert explanation.grounding.shape == (6, len(text_model.attributes), 14, 14)
    shares = explanation.top_filters("red eye", 0, top=64)
    assert abs(sum(s["share"] for s in shares) - 1) < 1e-4
    assert shares == sorted(shares, key=lambda s: -s["share"])


def test_sentences_name_distinct_parts_in_rank_order(text_model, held_out):
    explanation = text_model.explain(held_out.images()[:11], words=3, min_evidence=0.0)
    for index in range(11):
        groups = explanation.sentence_attributes[index]
        parts = [g[0].rsplit(" ", 1)[1] for g in groups]
        assert len(parts) == 3 and len(set(parts)) == 3
        for group in groups:  # a merged phrase joins adjectives of different kinds
            assert len({a.rsplit(" ", 1)[1] for a in group}) == 1 and len(group) <= 3
        sentence = explanation.sentences[index]
        assert sentence.startswith(
            f"This is a{'n' if explanation.class_names[index][0] in 'aeiou' else ''} "
            f"{explanation.class_names[index]} because it has "
        )
        assert all(w["phrase"] in sentence for w in explanation.words(index))
        best = explanation.ranking(index, 1)[0]["attribute"]
        assert best in groups[0]  # the top attribute opens the sentence
    one = text_model.explain(held_out.images()[:1], words=1)
    assert (len(one.sentence_attributes[0]) == 1 and " and " not in one.sentences[0].split("because")[1]) or len(
        one.sentence_attributes[0][0]
    ) > 1


def test_sentences_stop_when_the_evidence_runs_out(text_model, held_out):
    explanation = text_model.explain(held_out.images()[:11], words=3)
    evidence = explanation.attribute_probabilities - text_model.prior
    for index in range(11):
        named = [explanation.attribute_index(a) for group in explanation.sentence_attributes[index] for a in group]
        floor = 0.4 * float(evidence[index].max())  # min_evidence's default
        assert 1 <= len(explanation.sentence_attributes[index]) <= 3
        assert all(float(evidence[index, a]) >= floor for a in named)
    counts = [len(g) for g in explanation.sentence_attributes]
    assert min(counts) < 3  # some sentence stopped early
    fewer = text_model.explain(held_out.images()[:11], words=3, min_evidence=1.0)
    strongest = [text_model.attributes[int(a)] for a in evidence.argmax(1)]
    assert fewer.sentence_attributes == [[[a]] for a in strongest]


def test_supported_attributes_keep_the_ranking_order_above_the_floor():
    evidence = torch.tensor([0.10, -0.02, 0.05, 0.03, 0.0])
    assert xw.text.supported_attributes([0, 2, 3, 1, 4], evidence, 0.4) == [0, 2]
    assert xw.text.supported_attributes([3, 1, 2, 0, 4], evidence, 0.4) == [2, 0]
    assert xw.text.supported_attributes([3, 1, 2, 0, 4], evidence, 1.0) == [0]  # the strongest always stays
    assert xw.text.supported_attributes([0, 2, 3, 1, 4], evidence, 0.0) == [0, 2, 3, 4]


def test_compose_sentence_merges_a_pattern_into_its_part():
    vocabulary = build_vocabulary([["spotted blue wings, a red head, a long beak, a fan-shaped tail"]], min_images=1)
    order = [vocabulary.index(a) for a in ("blue wing", "spotted wing", "red head", "long beak", "fan-shaped tail")]
    sentence, groups, _ = compose_sentence(order, vocabulary, "spotwing", 2)
    assert sentence == "This is a spotwing because it has spotted blue wings and a red head."
    assert groups == [["blue wing", "spotted wing"], ["red head"]]


def test_a_low_ranked_adjective_of_a_named_part_joins_its_phrase():
    """Issue 19: with one part to name, "a long red beak" was written (and grounded) as "a red beak": a second
    adjective of the part joined its phrase only when it ranked within the top 2 * words."""
    vocabulary = build_vocabulary([["a long red beak, a fan-shaped purple tail, a brown head"]], min_images=1)
    order = [vocabulary.index(a) for a in ("red beak", "purple tail", "brown head", "long beak", "fan-shaped tail")]
    sentence, groups, phrases = compose_sentence(order, vocabulary, "twinmark", 1)
    assert sentence == "This is a twinmark because it has a long red beak."
    assert groups == [["red beak", "long beak"]] and phrases == ["a long red beak"]
    _, groups, phrases = compose_sentence(order, vocabulary, "twinmark", 2)
    assert groups == [["red beak", "long beak"], ["purple tail", "fan-shaped tail"]]
    assert phrases == ["a long red beak", "a fan-shaped purple tail"]


def test_a_twinmark_named_by_its_beak_is_grounded_with_every_word_of_the_phrase(text_model, held_out):
    twinmark = next(i for i, s in enumerate(held_out.samples) if s.species_name == "twinmark")
    explanation = text_model.explain(held_out.images()[twinmark : twinmark + 1], words=1)
    (word,) = explanation.words(0)
    assert word["phrase"] == "a long red beak" and sorted(word["attributes"]) == ["long beak", "red beak"]
    assert explanation.sentences[0].endswith("it has a long red beak.")
    assert torch.equal(explanation.map(word["phrase"], 0), explanation.map(["long beak", "red beak"], 0))


def test_grounding_maps_and_filter_maps_are_unit_range(text_model, held_out):
    explanation = text_model.explain(held_out.images()[:2])
    heat = explanation.map("red eyes", 1)
    assert heat.shape == (112, 112) and float(heat.min()) == 0.0 and float(heat.max()) == 1.0
    assert explanation.maps(1).shape == (len(text_model.attributes), 112, 112)
    assert torch.allclose(explanation.maps(1)[text_model.vocabulary.index("red eye")], heat)
    assert explanation.filter_map(3, 0).shape == (112, 112)


def test_a_phrase_of_several_attributes_is_grounded_by_all_of_them(text_model, held_out):
    explanation = text_model.explain(held_out.images()[:2])
    long_beak, red_beak = explanation.map("long beak", 0), explanation.map("red beak", 0)
    both = explanation.map(["long beak", "red beak"], 0)
    assert both.shape == (112, 112) and float(both.min()) == 0.0 and float(both.max()) == 1.0
    mean = (long_beak + red_beak) / 2
    assert torch.allclose(both, (mean - mean.min()) / (mean.max() - mean.min()), atol=1e-6)
    assert not torch.allclose(both, long_beak, atol=1e-3) and not torch.allclose(both, red_beak, atol=1e-3)
    for index in range(2):  # a sentence's phrase grounds the attributes it names
        for word in explanation.words(index):
            assert torch.equal(explanation.map(word["phrase"], index), explanation.map(word["attributes"], index))
    with pytest.raises(InvalidArgument, match="attribute"):
        explanation.map([], 0)


def test_save_and_load_round_trip(text_model, toy_model, held_out, tmp_path):
    path = text_model.save(tmp_path / "text.xwr")
    loaded = TextModel.load(path)
    assert loaded.attributes == text_model.attributes and loaded.vocabulary.lexicon == text_model.vocabulary.lexicon
    with pytest.raises(InvalidArgument, match="model"):
        loaded.explain(held_out.images()[:1])  # a loaded model has no classifier attached
    again = loaded.explain(held_out.images()[:3], toy_model)
    first = text_model.explain(held_out.images()[:3])
    assert again.sentences == first.sentences
    assert torch.allclose(again.grounding, first.grounding)
    explanation_path = first.save(tmp_path / "explanation.xwr")
    assert xw.text.TextExplanation.load(explanation_path).words(2) == first.words(2)


def test_retrieval_scores_rank_images(text_model, held_out):
    scores = text_model.attribute_scores(held_out.images())
    assert scores.shape == (66, len(text_model.attributes))
    assert torch.allclose(scores.sum(1), torch.ones(66), atol=1e-5)
    order = text_model.rank_images("red crest", scores, top=5)
    column = text_model.vocabulary.index("red crest")
    assert scores[order, column].tolist() == sorted(scores[:, column].tolist(), reverse=True)[:5]
    with pytest.raises(InvalidArgument, match="attribute"):
        text_model.rank_images("shiny wheel", scores)


def _clean(model, threads):
    assert all(len(m._forward_hooks) == 0 and len(m._backward_hooks) == 0 for m in model.module.modules())
    assert threading.active_count() == threads


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("linear layer", r"layer: got 'head', whose output is \[.*\], expected a convolutional layer"),
        ("unknown layer", "layer"),
        ("captions count", "captions for 10 images, expected captions for each of the 12 images"),
        ("missing captions", r"no caption for 1 image\(s\), e.g. images \[4\]"),
        ("empty vocabulary", "no attribute named in at least min_images=5 images"),
        ("no captions", "captions: got None"),
        ("nan images", "images"),
        ("model", "Classifier"),
        ("min_images", "min_images"),
    ],
)
def test_bad_fit_input_raises_and_leaves_nothing_behind(toy_model, case, pattern):
    data = xw.toy.dataset(12, seed=9717)
    images, captions = data.images(), xw.toy.captions(data)
    kwargs = {"layer": "features", "min_images": 1}
    if case == "linear layer":
        kwargs["layer"] = "head"
    elif case == "unknown layer":
        kwargs["layer"] = "features.conv9"
    elif case == "captions count":
        captions = captions[:10]
    elif case == "missing captions":
        captions[4] = []
    elif case == "empty vocabulary":
        captions, kwargs["min_images"] = [["a small bird"]] * 12, 5
    elif case == "no captions":
        captions = None
    elif case == "nan images":
        images = images.clone()
        images[3, 0, 0, 0] = float("nan")
    elif case == "min_images":
        kwargs["min_images"] = 0
    threads = threading.active_count()
    model = object() if case == "model" else toy_model
    with pytest.raises(XWidgetsError, match=pattern):
        xw.text.fit(model, images, captions=captions, **kwargs)
    _clean(toy_model, threads)


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("target", r"target: got 11, a class outside the model's 11 classes, expected a class index in 0..10"),
        ("label", "target: got 'dodo'"),
        ("targets", "one target per image"),
        ("words", "words"),
        ("rank", "rank"),
        ("nan", "images"),
        ("range", "images"),
        ("train mode", "eval"),
        ("other model", "channels"),
    ],
)
def test_bad_explain_input_raises_and_leaves_nothing_behind(text_model, toy_model, held_out, case, pattern):
    images = held_out.images()[:2]
    kwargs, model = {}, None
    if case == "target":
        kwargs["target"] = 11
    elif case == "label":
        kwargs["target"] = "dodo"
    elif case == "targets":
        kwargs["target"] = [0, 1, 2]
    elif case == "words":
        kwargs["words"] = 0
    elif case == "rank":
        kwargs["rank"] = "alphabetical"
    elif case == "nan":
        images = images.clone()
        images[0, 1, 5, 5] = float("nan")
    elif case == "range":
        images = images * 3
    elif case == "train mode":
        model = xw.toy.classifier()
        model.module.train()
    elif case == "other model":
        model = xw.Classifier(xw.toy.ToyCNN(11, width=32).eval())
    threads = threading.active_count()
    with pytest.raises(XWidgetsError, match=pattern):
        text_model.explain(images, model, **kwargs)
    _clean(toy_model, threads)
    if model is not None:
        _clean(model, threads)
    assert text_model.explain(held_out.images()[:1]).sentences  # still works afterwards


def test_a_torchvision_resnet_from_a_weights_file_fits_and_explains(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    model = xw.Classifier.from_torchvision("resnet18", "IMAGENET1K_V1", weights_path=path)
    data = xw.toy.dataset(8, seed=9718)
    fitted = xw.text.fit(model, data, captions=xw.toy.captions(data), min_images=1)
    assert fitted.layer == "layer4" and fitted.layer_shape == [512, 7, 7]
    explanation = fitted.explain(data.images()[:2], target="tench")
    assert explanation.class_names == ["tench", "tench"]
    # ResNet ends in a global average pool and a linear layer: contributions sum to the logit minus the bias
    bias = model.module.fc.bias[0].item()
    assert torch.allclose(explanation.contributions.sum(1), explanation.logits - bias, atol=1e-3)
    assert explanation.grounding.shape[-2:] == (7, 7) and explanation.map(0, 1).shape == (224, 224)

"""Mining attributes from captions, the vocabulary, and p(a|x)."""

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.text import BIRD_LEXICON, Lexicon, build_vocabulary, caption_distribution, mine_attributes


@pytest.mark.parametrize(
    "caption, expected",
    [
        ("a small bird with a long red beak.", ["long beak", "red beak"]),
        ("this bird has black and white wings", ["black wing", "white wing"]),
        ("a red head and blue wings", ["red head", "blue wing"]),
        ("A bird with a GRAY crown and a short, pointed bill.", ["grey crown", "short beak", "pointed beak"]),
        ("a red head, striped wings", ["red head", "striped wing"]),
        (
            "spotted blue wings and a fan-shaped purple tail",
            ["spotted wing", "blue wing", "fan-shaped tail", "purple tail"],
        ),
        ("the wings are red", []),
        ("a tiny bird", []),
    ],
)
def test_mining_pairs_each_part_with_the_adjectives_just_before_it(caption, expected):
    assert mine_attributes(caption) == expected


def test_lexicon_renders_phrases_with_number_and_article():
    assert BIRD_LEXICON.phrase("red eye") == "red eyes"
    assert BIRD_LEXICON.phrase("orange body") == "an orange body"
    assert BIRD_LEXICON.render("wing", ["blue", "spotted"]) == "spotted blue wings"
    assert BIRD_LEXICON.render("beak", ["yellow", "hooked"]) == "a hooked yellow beak"


def test_a_custom_lexicon_mines_other_words():
    lexicon = Lexicon(
        adjectives={"shiny": "colour", "round": "shape"},
        parts={"wheel": "wheel", "wheels": "wheel"},
        plural_parts=frozenset({"wheel"}),
    )
    assert mine_attributes("a car with shiny round wheels", lexicon) == ["shiny wheel", "round wheel"]
    assert mine_attributes("a red beak", lexicon) == []
    with pytest.raises(InvalidArgument, match="both adjective and part"):
        Lexicon(adjectives={"red": "colour"}, parts={"red": "red"})


def test_vocabulary_keeps_attributes_named_in_enough_images():
    captions = [["a red head"], ["a red head and blue wings"], ["red head"], ["blue wings"], ["green legs"]]
    vocabulary = build_vocabulary(captions, min_images=2)
    assert vocabulary.attributes == ("red head", "blue wing")  # sorted by part, then adjective
    assert vocabulary.image_counts == (3, 2)
    assert vocabulary.index("red head") == 0 and vocabulary.index("blue wings") == 1
    with pytest.raises(InvalidArgument, match="attribute"):
        vocabulary.index("green legs")


def test_caption_distribution_is_normalised_mention_counts():
    vocabulary = build_vocabulary([["a red head"], ["a red head", "blue wings"], ["blue wings"]], min_images=1)
    p = caption_distribution(vocabulary, [["a red head", "a red head with blue wings"], ["a bird"]])
    assert np.allclose(p[0], [2 / 3, 1 / 3])  # red head twice, blue wing once
    assert np.allclose(p[1], 0.0)  # names nothing: no distribution


def test_an_empty_vocabulary_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="no attribute named in at least min_images=5"):
        build_vocabulary([["a small bird"], ["a bird with a red head"]] * 2)


def test_captions_missing_for_some_images_are_named():
    with pytest.raises(InvalidArgument, match=r"no caption for 2 image\(s\), e.g. images \[1, 3\]"):
        build_vocabulary([["a red head"], [], ["a red head"], ["  "]], min_images=1)
    with pytest.raises(InvalidArgument, match=r"captions for 2 images.*each of the 3 images"):
        xw.text.check_captions([["a"], ["b"]], 3)
    with pytest.raises(InvalidArgument, match="captions"):
        xw.text.check_captions("a red head")


def test_toy_descriptions_and_evidence_match_the_vocabulary(text_model, held_out):
    vocabulary = text_model.vocabulary
    goldcap = next(s for s in held_out.samples if s.species_name == "goldcap")
    assert xw.toy.evidence_attributes(vocabulary, goldcap) == {"yellow head", "red eye"}
    labels = xw.toy.vocabulary_labels(vocabulary, [goldcap])[0]
    assert labels[vocabulary.index("yellow head")] and labels[vocabulary.index("red eye")]
    assert 7 <= labels.sum() <= 13  # one colour per part, plus patterns and shapes
    assert xw.toy.condition_phrase("tail.shape", "fork") == "forked tail"
    assert xw.toy.condition_phrase("crest.shape", "present") is None

"""The classroom demo: its scoring of a guess against a map with the toy world's part masks, and the composition
(pick, guess, the three reveals, errors on screen) with small kernel settings so that it runs in seconds."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets import classroom
from xwidgets.classroom import Classroom, covered_parts, landed_parts, part_heat, score_guess

QUICK_IGOS = {"iterations": 3, "ig_steps": 4, "resolution": 7}
QUICK_SAG = {"baseline": "blur", "grid": 4, "max_roots": 2, "heuristic_iterations": 1, "heuristic_ig_steps": 4}


@pytest.fixture(scope="module")
def world():
    return xw.toy.ToyWorld()


@pytest.fixture(scope="module")
def goldcap(world):
    return world.sample(*classroom.DEFAULT_BIRDS[0])


@pytest.fixture(scope="module")
def toy():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def captioned():
    return xw.toy.dataset(33, seed=7)


@pytest.fixture
def room(monkeypatch, toy, world, captioned):
    monkeypatch.setattr(classroom, "IGOS_PARAMS", QUICK_IGOS)
    monkeypatch.setattr(classroom, "SAG_PARAMS", QUICK_SAG)
    birds = [world.sample(*b) for b in classroom.DEFAULT_BIRDS[:2]]
    return Classroom(toy, birds, text_data=captioned)


# ----------------------------------------------------------------------------------------------- scoring
def test_a_uniform_map_is_equally_hot_on_every_visible_part(goldcap):
    heat = part_heat(np.full((112, 112), 0.3, dtype=np.float32), goldcap)
    visible = [p for p in xw.toy.PARTS if goldcap.part_mask(p).any()]
    assert list(heat) == visible
    assert all(value == pytest.approx(1.0) for value in heat.values())


def test_a_map_on_one_part_lands_on_that_part_only(goldcap):
    saliency = torch.from_numpy(goldcap.part_mask("head").astype(np.float32))[None, None]
    heat = part_heat(saliency, goldcap)
    assert max(heat, key=heat.get) == "head"
    assert heat["head"] == pytest.approx(112 * 112 / goldcap.part_mask("head").sum())
    assert landed_parts(heat) == ["head"]
    assert landed_parts({p: 0.0 for p in heat}) == []
    assert part_heat(np.zeros((112, 112)), goldcap)["head"] == 0.0


def test_landed_parts_are_the_hot_ones_hottest_first():
    heat = {"head": 4.0, "beak": 9.0, "body": 1.0, "eye": 5.0}
    assert landed_parts(heat) == ["beak", "eye"]
    assert landed_parts(heat, share=0.4) == ["beak", "eye", "head"]
    with pytest.raises(xw.XWidgetsError, match="share"):
        landed_parts(heat, share=0)


def test_a_guess_is_scored_against_the_landed_parts():
    assert score_guess(["tail", "head"], ["eye", "head"]) == {"found": ["head"], "missed": ["eye"], "extra": ["tail"]}
    assert score_guess([], ["beak"]) == {"found": [], "missed": ["beak"], "extra": []}
    with pytest.raises(xw.XWidgetsError, match=r"guess.*wings.*parts among head"):
        score_guess(["wings"], ["head"])


def test_a_root_covers_the_parts_inside_its_patches(goldcap):
    every = list(range(49))
    assert covered_parts(every, 7, goldcap) == [p for p in xw.toy.PARTS if goldcap.part_mask(p).any()]
    assert covered_parts([], 7, goldcap) == []
    ys, xs = np.nonzero(goldcap.part_mask("tail"))
    tail_patches = sorted({int(y) // 16 * 7 + int(x) // 16 for y, x in zip(ys, xs)})
    assert "tail" in covered_parts(tail_patches, 7, goldcap)
    assert "head" not in covered_parts(tail_patches, 7, goldcap)


def test_the_default_birds_are_what_the_toy_classifier_says(toy, world):
    for species, seed in classroom.DEFAULT_BIRDS:
        bird = world.sample(species, seed=seed)
        assert int(toy(bird.image).argmax()) == species, bird.species_name


# ----------------------------------------------------------------------------------------------- the demo
def test_bad_arguments_name_themselves(toy, goldcap):
    with pytest.raises(xw.XWidgetsError, match="model"):
        Classroom(xw.toy.embedder())
    with pytest.raises(xw.XWidgetsError, match="birds"):
        Classroom(toy, goldcap)
    with pytest.raises(xw.XWidgetsError, match=r"birds\[1\]"):
        Classroom(toy, [goldcap, goldcap.image])
    room = Classroom(toy, [goldcap])
    with pytest.raises(xw.XWidgetsError, match=r"index.*0\.\.0"):
        room.pick(1)
    with pytest.raises(xw.XWidgetsError, match="guess"):
        room.guess = ["wings"]


def test_it_is_exported_and_starts_on_the_first_bird_with_every_reveal_hidden(room):
    assert xw.Classroom is Classroom
    assert room.picker.selected_item == "bird0" and room.bird.species_name == "goldcap"
    assert [i["caption"] for i in room.picker.groups[0]["items"]] == ["goldcap", "hookbill"]
    assert list(room.part_buttons) == list(xw.toy.PARTS) and room.guess == []
    assert room.image_view.values is None and "goldcap" in room.image_view.title
    assert room.graph_box.layout.display == "none" and room.sentence.layout.display == "none"


def test_revealing_the_map_scores_the_guess_and_follows_a_new_guess(room):
    room.guess = ["head", "tail"]
    saliency = room.reveal_map()
    assert saliency.shape == (112, 112) and saliency.min() >= 0 and saliency.max() <= 1
    np.testing.assert_allclose(room.image_view.values, saliency, atol=1e-6)
    landed = landed_parts(part_heat(saliency, room.bird))
    assert landed and f"The map lands on: <b>{classroom._words(landed)}</b>" in room.verdict.value
    found = score_guess(["head", "tail"], landed)["found"]
    assert f"You found <b>{len(found)} of {len(landed)}</b>" in room.verdict.value
    room.part_buttons["tail"].value = False  # a toggle in the browser: the verdict follows at once
    assert "Not on the map: tail" not in room.verdict.value
    assert room.reveal_map() is saliency  # cached per bird


def test_the_graph_and_the_sentence_reveal_what_the_kernels_found(room):
    result = room.reveal_graph()
    assert result.method == "sag" and room.graph_box.layout.display == "flex"
    assert [n["id"] for n in room.graph_view.nodes] == [n["id"] for n in result.nodes[0]]
    assert "Enough on their own" in room.graph_text.value
    sentence = room.reveal_sentence()
    assert sentence.startswith("This is") and room.sentence.layout.display == "block"
    assert "head is yellow and eyes are red" in room.sentence.value


def test_picking_a_bird_in_the_browser_resets_the_reveals(room):
    room.guess = ["beak"]
    room.reveal_map()
    room.reveal_graph()
    room.picker.selected_item = "bird1"  # a click on the second thumbnail
    assert room.index == 1 and room.bird.species_name == "hookbill"
    assert room.guess == [] and room.image_view.values is None
    assert room.graph_box.layout.display == "none" and room.graph_view.nodes == []
    room.picker.selected_item = ""  # a click on the row's header keeps the bird
    assert room.picker.selected_item == "bird1"


def test_a_failing_reveal_says_so_on_screen(room, monkeypatch):
    def broken(*_args, **_kwargs):
        raise xw.XWidgetsError("the model is asleep")

    monkeypatch.setattr(classroom, "explain", broken)
    room.reveal_buttons["map"].click()
    assert "the model is asleep" in room.status.value
    assert room.image_view.values is None


def test_the_classroom_sag_finds_both_pieces_of_the_azure_jays_evidence(toy, world):
    jay = world.sample(*classroom.DEFAULT_BIRDS[3])
    assert jay.species_name == "azure jay"  # its rule: a blue crest OR purple plain wings
    room = Classroom(toy, [jay])
    result = room.reveal_graph()
    covered = [covered_parts(result.roots[0][i]["patches"], result.grid, jay) for i in result.shown[0]]
    assert any("crest" in parts for parts in covered) and any("wing" in parts for parts in covered), covered
    assert max(n["level"] for n in result.nodes[0]) <= 2  # small enough for a projector

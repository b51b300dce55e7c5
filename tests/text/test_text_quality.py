"""Ground truth on the toy world: do the words name the evidence, retrieve the right images, point at the part?

Each measure is taken for the model fitted on the captions and for the control fitted on shuffled captions (the
same images and vocabulary, each image given another image's captions). Measured at these seeds (fit on 220
images, 66 held out): sentence precision 0.46 / recall 0.89 against 0.00 / 0.00; retrieval mAP over the evidence
attributes 0.67 against 0.26 (chance 0.22), over all attributes 0.34 against 0.18 (chance 0.14); pointing 0.43
against 0.21, and 0.87 against 0.61 with one feature cell (8 px) of tolerance. The asserted margins are about half
of the measured gaps.
"""

import pytest

import xwidgets as xw

CELL = 8  # one cell of the 14x14 layer on a 112-pixel image


@pytest.fixture(scope="module")
def measures(text_model, shuffled_model, held_out):
    samples = held_out.samples
    images = held_out.images()
    features = xw.concepts.extract_features(text_model.model, images, "features")
    vocabulary = text_model.vocabulary
    truths = [xw.toy.evidence_attributes(vocabulary, s) for s in samples]
    labels = xw.toy.vocabulary_labels(vocabulary, samples)
    evidence_columns = sorted({vocabulary.index(a) for truth in truths for a in truth})
    masks = [{part: s.part_mask(part) for part in xw.toy.PARTS} for s in samples]
    result = {}
    for name, fitted in (("fitted", text_model), ("control", shuffled_model)):
        explanation = fitted.explain(images, text_model.model)
        scores = fitted.attribute_scores(features=features)
        result[name] = {
            **xw.text.sentence_scores(explanation, truths),
            "map_evidence": xw.text.retrieval_map(scores, labels, evidence_columns)["map"],
            "map_all": xw.text.retrieval_map(scores, labels)["map"],
            "pointing": xw.text.pointing_accuracy(explanation, truths, masks)["accuracy"],
            "pointing_cell": xw.text.pointing_accuracy(explanation, truths, masks, tolerance=CELL)["accuracy"],
        }
    result["chance_evidence"] = xw.text.retrieval_map(labels.astype(float), labels, evidence_columns)["chance"]
    return result


def test_sentences_name_the_species_evidence(measures):
    fitted, control = measures["fitted"], measures["control"]
    assert fitted["recall"] >= 0.7 and fitted["recall"] >= control["recall"] + 0.4
    assert fitted["precision"] >= 0.35 and fitted["precision"] >= control["precision"] + 0.2


def test_retrieval_through_the_network_ranks_images_showing_the_attribute(measures):
    fitted, control = measures["fitted"], measures["control"]
    assert fitted["map_evidence"] >= 0.5 and fitted["map_evidence"] >= control["map_evidence"] + 0.2
    assert fitted["map_evidence"] >= measures["chance_evidence"] + 0.25
    assert fitted["map_all"] >= control["map_all"] + 0.08


def test_grounding_points_at_the_attribute_part(measures):
    fitted, control = measures["fitted"], measures["control"]
    assert fitted["pointing"] >= control["pointing"] + 0.1
    assert fitted["pointing_cell"] >= 0.75 and fitted["pointing_cell"] >= control["pointing_cell"] + 0.12


def test_metrics_are_computed_correctly_on_hand_made_input():
    import numpy as np

    # ranking [pos, neg, pos]: precision at the hits 1 and 2/3
    assert xw.text.average_precision(np.array([3.0, 2.0, 1.0]), np.array([True, False, True])) == pytest.approx(5 / 6)
    # ranking [neg, pos, pos]: precision at the hits 1/2 and 2/3
    assert xw.text.average_precision(np.array([3.0, 2.0, 1.0]), np.array([False, True, True])) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )

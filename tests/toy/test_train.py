"""The training script runs end to end (tiny settings) and reports progress; the full run is in the README."""

import pytest
import torch

from xwidgets.toy import ToyCNN, ToyWorld
from xwidgets.toy.train import main, render_set

pytestmark = pytest.mark.slow  # renders in worker processes and trains


def test_render_set_matches_world_samples():
    images, species, attributes = render_set(6, seed=4, workers=1)
    samples = ToyWorld().samples(6, seed=4)
    assert torch.equal(images[5], torch.from_numpy(samples[5].image).permute(2, 0, 1))
    assert species.tolist() == [s.species for s in samples] and attributes.shape == (6, 13)


def test_main_trains_and_writes_both_models(tmp_path, capsys):
    main(["--train", "130", "--validation", "22", "--epochs", "1", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "classifier: epoch 1/1" in printed and "embedder validation attribute accuracy" in printed
    for name, outputs in (("classifier", 11), ("embedder", 64)):
        model = ToyCNN(outputs)
        model.load_state_dict(torch.load(tmp_path / f"{name}.pt", weights_only=True))

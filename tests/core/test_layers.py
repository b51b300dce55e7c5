"""The rule-based default layer (issue 16, item 1): the rectified output of the last spatial block, found by tracing
one forward pass, on the torchvision families (random weights, 64×64 inputs) and on the models it must refuse."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

import xwidgets as xw
from xwidgets.core import InvalidArgument, default_layer, layer_map
from xwidgets.core.layers import grid_cells
from xwidgets.heatmaps import gradcam

#: Each family's default layer, and the last Conv2d that Grad-CAM used before (pre-normalisation, pre-activation).
FAMILIES = {
    "resnet18": ("layer4", "layer4.1.conv2"),
    "vgg11": ("features.19", "features.18"),
    "densenet121": ("features", "features.denseblock4.denselayer16.conv2"),
    "mobilenet_v3_small": ("features", "features.12.0"),
    "efficientnet_b0": ("features", "features.8.0"),
    "convnext_tiny": ("features", "features.7.2.block.0"),
    "regnet_y_400mf": ("trunk_output", "trunk_output.block4.block4-5.f.c.0"),
}
INPUTS = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(16141))


def vgg11_with_a_small_head() -> nn.Module:
    """torchvision's VGG-11 with one linear layer as its classifier: the rule looks at the features, and building
    the real 120M-parameter head costs 4 s on 2 cores."""
    with torch.device("meta"):
        module = torchvision.models.vgg11(weights=None)
    module.features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["A"])
    module.classifier = nn.Linear(512 * 7 * 7, 10)
    return module


@pytest.fixture(scope="module")
def families():
    with torch.random.fork_rng():  # torchvision draws its initial weights from the global generator
        torch.manual_seed(16151)
        built = {
            name: vgg11_with_a_small_head() if name == "vgg11" else torchvision.models.get_model(name, weights=None)
            for name in FAMILIES
        }
    assert not any(p.is_meta for module in built.values() for p in module.parameters())
    return {name: module.eval() for name, module in built.items()}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_default_is_the_rectified_block_output_of_each_torchvision_family(families, name):
    module = families[name]
    new, old = FAMILIES[name]
    assert [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d)][-1] == old
    assert default_layer(module, INPUTS) == new
    result = gradcam(xw.Classifier(module), INPUTS)
    assert result.params["layer"] == new and result.saliency.shape == (2, 1, 64, 64)
    assert not result.degenerate.any()


def test_gradcam_on_densenet_uses_the_features_after_their_functional_relu(families):
    """DenseNet rectifies ``features`` with an in-place functional ReLU; Grad-CAM must see the rectified maps and
    their gradient, as if the ReLU's output were the layer."""
    module = families["densenet121"]
    maps = F.relu(module.features(INPUTS)).requires_grad_(True)
    probabilities = module.classifier(torch.flatten(F.adaptive_avg_pool2d(maps, 1), 1)).softmax(1)
    target = probabilities.argmax(1)  # gradcam's default target: the top-1 class's probability
    (gradient,) = torch.autograd.grad(probabilities.gather(1, target[:, None]).sum(), maps)
    cam = F.relu((gradient.mean((2, 3), keepdim=True) * maps).sum(1, keepdim=True)).detach()
    expected = xw.heatmaps.result.normalise_maps(F.interpolate(cam, size=(64, 64), mode="bilinear"))
    result = gradcam(xw.Classifier(module), INPUTS)
    assert not result.degenerate.any() and result.target["classes"] == target.tolist()
    assert torch.allclose(result.saliency, expected, atol=1e-5)


def test_the_toy_models_and_a_plain_sequential_net():
    assert default_layer(xw.toy.classifier().module) == "features"
    assert default_layer(xw.toy.embedder().module) == "features"
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    assert default_layer(net) == "2"  # the ReLU, looking through both pooling layers


def test_the_trace_leaves_training_flags_and_statistics_alone():
    module = torchvision.models.resnet18(weights=None)  # training mode, as constructed
    module.layer1.eval()
    mean = module.bn1.running_mean.clone()
    assert default_layer(module) == "layer4"
    assert module.training and not module.layer1.training and module.layer2.training
    assert torch.equal(module.bn1.running_mean, mean)
    assert all(not m._forward_hooks for m in module.modules())


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), r"a model whose output is \[1, 4, 62, 62\]"),
        (nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2)), r"no map \[N, C, h, w\] \(h·w > 1\), channels-last"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(3, 2)), r"tracing the model on a \[1, 3, 64, 64\]"),
    ],
)
def test_models_without_a_default_layer_get_a_clear_error(module, message):
    with pytest.raises(InvalidArgument, match=message) as error:
        default_layer(module.eval(), INPUTS)
    assert error.value.argument == "layer"


def small_vit() -> nn.Module:
    """A two-block ViT at 64×64 (4×4 patches of 16 px and a class token) whose zero-initialised head is made random:
    with torchvision's zero head every output is constant and no layer reaches it."""
    with torch.random.fork_rng():
        torch.manual_seed(17051)
        vit = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)
        nn.init.normal_(vit.heads.head.weight, std=0.5)
    return vit.eval()


def test_a_vit_is_explained_at_its_last_block_input_and_not_after_its_attention():
    """The patch tokens after the last block's attention never reach the class token, which alone feeds the head:
    Grad-CAM there is constant (the refusal of issue 16 avoided it; the rule now skips it by its zero gradient)."""
    vit = small_vit()
    assert default_layer(vit, INPUTS) == "encoder.layers.encoder_layer_0"
    model = xw.Classifier(vit)
    result = gradcam(model, INPUTS)
    assert result.params["layer"] == "encoder.layers.encoder_layer_0" and not result.degenerate.any()
    assert bool((result.saliency.flatten(1).std(1) > 0.1).all())
    with pytest.warns(xw.heatmaps.DegenerateMapWarning):
        after = gradcam(model, INPUTS, layer="encoder.layers.encoder_layer_1")
    assert after.degenerate.all()


def test_layer_map_puts_tokens_and_channels_last_maps_on_the_image_grid():
    tokens = torch.arange(2 * 7 * 5, dtype=torch.float32).view(2, 7, 5)  # a class token and 2×3 patches
    grid = layer_map(tokens, (32, 48))
    assert grid.shape == (2, 5, 2, 3) and torch.equal(grid[1, :, 1, 2], tokens[1, 6])
    assert torch.equal(layer_map(tokens[:, 1:], (32, 48)), grid)  # no class token
    channels_last = torch.rand(2, 4, 6, 5)  # [N, h, w, C] at 64×96
    assert torch.equal(layer_map(channels_last, (64, 96)), channels_last.permute(0, 3, 1, 2))
    swin_stage = torch.rand(2, 64, 64, 96)  # Swin's first stage at 256²
    assert layer_map(swin_stage, (256, 256)).shape == (2, 96, 64, 64)
    for maps in (torch.rand(2, 9, 4, 6), torch.rand(2, 7, 7, 7)):  # channels-first; a tie is too
        assert layer_map(maps, (64, 96) if maps.shape[-1] == 6 else (64, 64)) is maps
    for value, size in ((torch.rand(2, 3, 5), (32, 32)), (torch.rand(2, 5), (32, 32))):
        with pytest.raises(InvalidArgument, match=r"'head', whose output is \[2, .*\] on a 32x32 input") as error:
            layer_map(value, size, layer="head")
        assert error.value.argument == "layer" and "tokens [N, e + h·w, D]" in str(error.value)


def test_grid_cells_counts_the_positions_of_every_layout_and_zero_for_the_rest():
    assert grid_cells(torch.rand(2, 9, 4, 6), (64, 96)) == 24  # [N, C, h, w]
    assert grid_cells(torch.rand(2, 4, 6, 5), (64, 96)) == 24  # [N, h, w, C]
    assert grid_cells(torch.rand(2, 7, 5), (32, 48)) == 6  # a class token and 2×3 patches
    for value in (torch.rand(2, 5), torch.rand(2, 3, 5), (torch.rand(2, 9, 4, 6),), None):
        assert grid_cells(value, (32, 32)) == 0


def test_concept_features_of_a_vit_are_the_mean_of_its_patch_tokens():
    """Concept features are the mean of the ViT's 4×4 patch tokens, its class token left out."""
    vit = small_vit()
    model = xw.Classifier(vit)
    features = xw.concepts.extract_features(model, INPUTS, "encoder.layers.encoder_layer_0", progress=False)
    with xw.core.record_layer(vit, "encoder.layers.encoder_layer_0") as record, torch.no_grad():
        vit(INPUTS)
    assert features.layer_shape == [32, 4, 4]
    assert torch.allclose(features.features, record.activation[:, 1:].mean(1), atol=1e-6)


def test_a_swin_stage_is_read_as_a_channels_last_map():
    """Swin's stages are ``[N, h, w, C]``; read as ``[N, C, h, w]`` they were a 2-channel map 2×768 wide."""
    with torch.random.fork_rng():
        torch.manual_seed(17052)
        swin = torchvision.models.swin_t(weights=None, num_classes=10).eval()
    model = xw.Classifier(swin)
    features = xw.concepts.extract_features(model, INPUTS, "features", progress=False)
    assert features.layer_shape == [768, 2, 2]
    result = gradcam(model, INPUTS, layer="features")
    assert result.saliency.shape == (2, 1, 64, 64) and not result.degenerate.any()

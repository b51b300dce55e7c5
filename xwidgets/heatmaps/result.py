"""The saliency result every heatmap method returns, and the preparation every method shares."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch

from ..core.errors import XWidgetsError, invalid
from ..core.models import Model, check_model
from ..core.results import Result
from ..core.scoring import forward_batched
from ..core.targets import Target, resolve_target

__all__ = [
    "SaliencyResult",
    "Prepared",
    "prepare",
    "mask_resolution",
    "normalise_maps",
    "make_result",
    "DegenerateMapWarning",
    "class_name",
    "degenerate_maps",
    "warn_degenerate",
]


@dataclasses.dataclass(kw_only=True)
class SaliencyResult(Result):
    """Saliency maps of B images.

    Attributes:
        saliency: ``[B, 1, H, W]`` float in [0, 1] at the model's input size; high = important.
        images: ``[B, 3, H, W]`` the explained images in pixel space ([0, 1]) at the model's input size.
        scores: ``[B]`` the target's score on each unperturbed image.
        target: the resolved target's description (e.g. the class of each image).
        degenerate: ``[B]`` bool, True where the map was constant before normalisation (for instance all zero) and
            so carries no saliency; set from ``saliency`` when not given, with a :class:`DegenerateMapWarning`.
    """

    saliency: torch.Tensor
    images: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    target: dict = dataclasses.field(default_factory=dict)
    degenerate: torch.Tensor | None = None

    def __post_init__(self):
        if self.degenerate is None and self.saliency is not None:
            self.degenerate = degenerate_maps(self.saliency)
            warn_degenerate(self.method, self.degenerate, self.params.get("layer"))

    def figure(self, index: int | list[int] = 0, *, path=None, **style):
        """A matplotlib figure of map ``index`` over its image, or one panel per index of a list
        (:func:`~xwidgets.heatmaps.figure.saliency_figure`); saved to ``path`` (``.pdf``, ``.svg``, ``.png``) when
        given.

        Args:
            index: an image index in ``0..B-1``, or a list of them (``list(range(len(images)))`` for all).
            path: where to save the figure too.
            style: ``titles`` (one per panel; default the method and the target class), ``colormap``, ``alpha``,
                ``threshold``, ``mode``, and ``style`` (``"one-column"``, ``"two-column"`` or ``"auto"``).
        """
        from ..figures import save_figure
        from .figure import saliency_figure

        indices = self._indices(index)
        if self.images is None:
            raise XWidgetsError(
                f"this {type(self).__name__} holds no images (it was made without images=...), so "
                "there is nothing to draw its maps over"
            )
        titles = style.pop("titles", None) or [self._title(i) for i in indices]
        figure = saliency_figure(
            [self.images[i] for i in indices], [self.saliency[i] for i in indices], titles, **style
        )
        if path is not None:
            save_figure(figure, path)
        return figure

    def _indices(self, index: object) -> list[int]:
        """``index`` (an int or a list of ints) as a list of image indices, checked."""
        count = self.saliency.shape[0]
        given = list(index) if isinstance(index, (list, tuple, range)) else [index]
        indices = [i for i in given if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count]
        if not given or len(indices) < len(given):
            hint = " (to save the figure, pass path=...)" if isinstance(index, (str, Path)) else ""
            raise invalid("index", index, f"an image index in 0..{count - 1}, or a list of them{hint}")
        return indices

    def _title(self, index: int) -> str:
        """``"<method> · <class name>"``: the method's readable name and the image's target class (its index,
        ``class <c>``, where the model had no labels)."""
        from ..core.methods import get_spec

        try:
            method = get_spec(self.method, kinds=("heatmap",)).title
        except XWidgetsError:  # a result saved by another version or method family
            method = self.method
        return method + (f" · {class_name(self.target, index)}" if self.target.get("classes") else "")


def class_name(target: dict, index: int) -> str:
    """The class image ``index`` was explained for, from a result's ``target`` description: the model's label,
    or ``class <c>`` where the model had none."""
    names = target.get("names") or [f"class {c}" for c in target["classes"]]
    return names[index if len(names) > 1 else 0]


@dataclasses.dataclass
class Prepared:
    """What a method starts from: pixel-space and normalised inputs, the resolved target and clean scores."""

    pixels: torch.Tensor
    inputs: torch.Tensor
    target: Target
    scores: torch.Tensor
    labels: list[str] | None = None

    def describe_target(self) -> dict:
        """The target's description for a result, with ``names``: the model's label of each class, where known."""
        described = self.target.describe()
        classes = described.get("classes")
        if classes and self.labels and all(0 <= c < len(self.labels) for c in classes):
            described["names"] = [str(self.labels[c]) for c in classes]
        return described

    @property
    def batch(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return (self.pixels.shape[-2], self.pixels.shape[-1])


def prepare(model: Model, images: object, target: object, size: int | tuple[int, int] | None = None) -> Prepared:
    """Check ``model`` (:func:`~xwidgets.core.models.check_model`), convert ``images`` for it (resized to ``size``
    first when given), run the clean forward once, and resolve ``target`` against it."""
    pixels = check_model(model).prepare(images, size=size)
    inputs = model.normalize(pixels)
    with torch.no_grad(), model.frozen():
        output = forward_batched(model, inputs)
        resolved = resolve_target(target, model, output)
        scores = resolved(output)
    labels = getattr(model, "labels", None)
    return Prepared(pixels, inputs, resolved, scores, list(labels) if labels else None)


def mask_resolution(resolution: int, size: tuple[int, int]) -> int:
    """``resolution`` checked against the input ``size``: a mask can have at most one cell per pixel."""
    if resolution > min(size):
        raise invalid(
            "resolution",
            resolution,
            f"at most the input's side, {min(size)} (the images are {size[0]}x{size[1]} at the model's "
            "input): a mask has at most one cell per pixel",
        )
    return resolution


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Scale each ``[B, 1, H, W]`` map to [0, 1] by its min and max (a constant map becomes zeros, which
    :func:`degenerate_maps` detects and :class:`SaliencyResult` flags). Any positive span reaches 1, however small:
    a random-weight EfficientNet's Grad-CAM spans 1e-16, which an absolute floor on the span had left at 3e-6."""
    maps = maps.float()  # a bfloat16 model's maps normalised in float32
    flat = maps.flatten(1)
    low, high = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    span = high - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1.0), torch.zeros_like(maps))


class DegenerateMapWarning(UserWarning):
    """A saliency map was constant before normalisation (for instance all zero): it shows nothing."""


def degenerate_maps(saliency: torch.Tensor) -> torch.Tensor:
    """``[B]`` bool: which normalised ``[B, 1, H, W]`` maps are all zero, i.e. were constant before
    :func:`normalise_maps` (a map with any spread reaches 1)."""
    return saliency.flatten(1).amax(1) <= 0


def warn_degenerate(method: str, degenerate: torch.Tensor, layer: str | None = None) -> None:
    """One :class:`DegenerateMapWarning` naming the method, the layer if any, and the images whose map is constant."""
    indices = torch.nonzero(degenerate).flatten().tolist()
    if not indices:
        return
    shown = ", ".join(map(str, indices[:10])) + (f" and {len(indices) - 10} more" if len(indices) > 10 else "")
    where = f" at layer {layer!r}" if layer is not None else ""
    advice = (
        (
            " (is this layer's output negative where the evidence is? the default layer is the rectified output"
            " of the last spatial block)"
        )
        if layer is not None
        else ""
    )
    subject = f"the map of image {shown} is" if len(indices) == 1 else f"the maps of images {shown} are"
    warnings.warn(
        f"{method}{where}: {subject} constant before normalisation (e.g. all zero), so there is no "
        f"saliency to show ({len(indices)} of {degenerate.numel()} images; result.degenerate marks them)"
        f"{advice}",
        DegenerateMapWarning,
        stacklevel=3,
    )


def make_result(
    method: str, params: dict, prepared: Prepared, saliency: torch.Tensor, seconds: float, seed: int | None = None
) -> SaliencyResult:
    """Package a method's maps as a :class:`SaliencyResult` (tensors moved to the CPU)."""
    return SaliencyResult(
        method=method,
        params=params,
        seed=seed,
        timings={"total": seconds},
        saliency=saliency.detach().float().cpu(),
        images=prepared.pixels.detach().float().cpu(),
        scores=prepared.scores.detach().float().cpu(),
        target=prepared.describe_target(),
    )

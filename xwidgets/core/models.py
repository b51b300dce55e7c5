"""Model wrappers: a :class:`Classifier` (logits) or an :class:`Embedder` (vectors), each with its preprocessing.

A wrapper holds the ``torch.nn.Module``, its :class:`Preprocessing` (resize, centre crop, normalisation), its
labels, device and dtype. Methods never normalise images themselves: they call :meth:`Model.prepare` to get
pixel-space images at the model's input size, build baselines and composites there or in normalised space
(:meth:`Model.normalize`), and call :meth:`Model.forward` on normalised batches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import describe, invalid
from .images import to_batch

__all__ = [
    "Preprocessing",
    "Model",
    "Classifier",
    "Embedder",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "check_model",
    "is_out_of_memory",
    "load_state_dict_file",
    "torchvision_name",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How images become model input. Geometry runs in pixel space ([0, 1]); normalisation comes last.

    Attributes:
        resize: None (keep the size), an int (resize the shorter side to it, keeping the aspect ratio) or
            ``(H, W)`` (resize to exactly that size).
        crop: None, or ``(H, W)`` of a centre crop taken after resizing.
        mean, std: per-channel normalisation ``(x - mean) / std``; None for a model that takes [0, 1] input.
    """

    resize: int | tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __post_init__(self):
        if (self.mean is None) != (self.std is None):
            raise invalid("mean/std", f"mean={self.mean}, std={self.std}", "both given or both None")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and (len(value) != 3 or (name == "std" and min(value) <= 0)):
                raise invalid(name, value, "three per-channel values" + (" > 0" if name == "std" else ""))

    @classmethod
    def from_torchvision(cls, transforms: Any) -> Preprocessing:
        """Read a torchvision weights enum's ``transforms()`` (``ImageClassification``) into a Preprocessing."""
        try:
            crop = tuple(transforms.crop_size)
            resize = transforms.resize_size
            mean, std = tuple(transforms.mean), tuple(transforms.std)
        except AttributeError:
            raise invalid(
                "transforms",
                type(transforms).__name__,
                "a torchvision ImageClassification preset (weights.transforms())",
            ) from None
        resize = resize[0] if len(resize) == 1 else tuple(resize)
        crop = (crop[0], crop[0]) if len(crop) == 1 else crop
        return cls(resize=resize, crop=crop, mean=mean, std=std)


class Model:
    """Base of :class:`Classifier` and :class:`Embedder`; wraps a module once for every method.

    Args:
        module: a ``torch.nn.Module`` in eval mode (``module.eval()``); it is moved to ``device`` if given.
        preprocessing: a :class:`Preprocessing`; default none (images go in as [0, 1] at their own size).
        labels: optional names of the outputs (class names for a classifier).
        device: where to run; default the device of the module's parameters (CPU for a parameter-free module).
        name: a name for manifests and titles; default the module's class name.
        max_batch: the largest micro-batch to try when scoring many images; halved automatically on
            out-of-memory and remembered (:attr:`max_batch`). Default 256 on an accelerator and 16 on the CPU,
            where bigger batches run slower (benchmarks/results/core_cpu.md).
    """

    kind = "model"

    def __init__(
        self,
        module: nn.Module,
        *,
        preprocessing: Preprocessing | None = None,
        labels: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        name: str | None = None,
        max_batch: int | None = None,
    ):
        if not isinstance(module, nn.Module):
            raise invalid("module", f"an object of type {type(module).__name__}", "a torch.nn.Module")
        self._check_eval(module)
        if device is not None:
            device = _device_arg(device)
            module = module.to(device)
        if preprocessing is not None and not isinstance(preprocessing, Preprocessing):
            raise invalid("preprocessing", type(preprocessing).__name__, "an xwidgets Preprocessing")
        if max_batch is not None and (not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1):
            raise invalid("max_batch", max_batch, "a positive int, or None for the device's default")
        self.module = module
        self.preprocessing = preprocessing or Preprocessing()
        self.labels = list(labels) if labels is not None else None
        self.name = name or type(module).__name__
        self.images_forwarded = 0
        #: Seconds per image of a forward and a forward+backward pass, per input shape ``(3, H, W)``, measured
        #: once by :func:`xwidgets.core.cost.pass_time` (explorers choose their defaults from them).
        self.pass_times: dict = {}
        #: Held while a background run uses the model (explorers), so one run's layer hooks never record
        #: another run's forward passes.
        self.lock = threading.RLock()
        first = _first_tensor(module)
        self.device = first.device if first is not None else torch.device(device or "cpu")
        self.dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        self._max_batch_given = max_batch
        self.max_batch = max_batch or (16 if self.device.type == "cpu" else 256)
        self._place_normalisation()

    def _place_normalisation(self) -> None:
        """The preprocessing's mean and std as ``[1, 3, 1, 1]`` tensors on the model's device and dtype."""
        mean, std = self.preprocessing.mean, self.preprocessing.std
        self._mean = None if mean is None else torch.tensor(mean, device=self.device, dtype=self.dtype).view(1, 3, 1, 1)
        self._std = None if std is None else torch.tensor(std, device=self.device, dtype=self.dtype).view(1, 3, 1, 1)

    def to(self, device: str | torch.device) -> Model:
        """Move the module and the normalisation to ``device`` in place and return the model (like
        ``nn.Module.to``); :attr:`max_batch` becomes the new device's default unless the constructor was given one.
        A Ray actor moves its replica onto the GPU it was given this way."""
        device = _device_arg(device)
        self.module = self.module.to(device)
        first = _first_tensor(self.module)
        self.device = first.device if first is not None else device
        self.max_batch = self._max_batch_given or (16 if self.device.type == "cpu" else 256)
        self._place_normalisation()
        return self

    def __getstate__(self) -> dict:
        """Pickle everything but :attr:`lock` (a thread lock does not pickle), so a model can be shipped to other
        processes (Ray actors, DataLoader workers) or deep-copied."""
        state = self.__dict__.copy()
        del state["lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled model with a fresh lock of its own."""
        self.__dict__.update(state)
        self.lock = threading.RLock()

    @staticmethod
    def _check_eval(module: nn.Module) -> None:
        if module.training:
            raise invalid(
                "model",
                "a module in training mode (module.training is True)",
                "a module in eval mode: call model.eval() first",
            )

    # ----------------------------------------------------------------------------------------- inputs
    def prepare(
        self, images: object, *, size: int | tuple[int, int] | None = None, name: str = "images"
    ) -> torch.Tensor:
        """Images in any form (see :func:`~xwidgets.core.images.to_batch`) -> ``[B, 3, H, W]`` in [0, 1] at
        the model's input size, on its device and dtype. This is pixel space, before normalisation.

        A list of images of different sizes is fine when the preprocessing brings them to one size (a resize to
        ``(H, W)``, or a crop); otherwise pass ``size=(H, W)`` to resize every image first.
        """
        if not isinstance(images, (list, tuple)) or len(images) < 2:
            return self._geometry(to_batch(images, size=size, name=name), name).to(self.device, self.dtype)
        parts = [to_batch(image, size=size, name=f"{name}[{i}]") for i, image in enumerate(images)]
        if len({tuple(p.shape[-2:]) for p in parts}) == 1:
            return self._geometry(torch.cat(parts), name).to(self.device, self.dtype)
        parts = [self._geometry(p, f"{name}[{i}]") for i, p in enumerate(parts)]
        sizes = sorted({tuple(p.shape[-2:]) for p in parts})
        if len(sizes) > 1:
            raise invalid(
                name,
                f"images of different sizes {sizes} after the model's preprocessing",
                "images of one size: pass size=(H, W) (xw.explain, the heatmap methods, SAG and the "
                "metrics take it), resize them with xw.to_batch(images, size=(H, W)), or give the model "
                "a preprocessing that resizes (xw.core.Preprocessing(resize=(H, W), ...))",
            )
        return torch.cat(parts).to(self.device, self.dtype)

    def _geometry(self, batch: torch.Tensor, name: str) -> torch.Tensor:
        """The preprocessing's resize and centre crop of a float ``[B, 3, H, W]`` batch in [0, 1]."""
        pre = self.preprocessing
        if pre.resize is not None:
            batch = _resize(batch, pre.resize)
        if pre.crop is not None:
            batch = _centre_crop(batch, pre.crop, name)
        return batch

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Pixel-space ``[N, 3, H, W]`` in [0, 1] -> the model's normalised input space (differentiable)."""
        if self._mean is None or self._std is None:
            return images
        return (images - self._mean) / self._std

    def denormalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalize`."""
        if self._mean is None or self._std is None:
            return inputs
        return inputs * self._std + self._mean

    # ---------------------------------------------------------------------------------------- forward
    def forward(self, inputs: torch.Tensor, *, name: str = "images") -> torch.Tensor:
        """Run the module on a normalised batch ``[N, 3, H, W]`` and check the output's shape.

        Inputs of another float dtype (float32 composites of a bfloat16 model) are cast to the model's dtype,
        differentiably, so every method runs in the model's dtype; the output keeps that dtype. Gradients flow
        if the caller enables them; parameters are frozen inside :meth:`frozen`. Where the module fails on inputs
        smaller than the least it runs on (:meth:`least_input_side`), an ``InvalidArgument`` names ``name`` (the
        user's argument the images came from) with that least size.
        """
        self._check_eval(self.module)
        if inputs.device != self.device:
            raise invalid("inputs", describe(inputs), f"a tensor on the model's device {self.device}")
        if not inputs.is_floating_point():
            raise invalid("inputs", describe(inputs), "a float tensor of normalised images")
        try:
            output = self.module(inputs.to(self.dtype))
        except RuntimeError as error:
            if not is_out_of_memory(error):  # out of memory: the caller backs off, no trial runs
                self._refuse_small(inputs, name)
            raise
        self.images_forwarded += int(inputs.shape[0])
        self._check_output(output, int(inputs.shape[0]))
        return output

    def least_input_side(self, *, limit: int = 1024) -> int | None:
        """The least side ``s`` in pixels such that the module runs on a ``[1, 3, s, s]`` input, found by trying
        (doubling from 1, then bisecting: a dozen forward passes of one small image, without gradients) and
        remembered; None where it runs on no side up to ``limit``. :meth:`forward` asks only after the module
        failed on a batch (not for want of memory)."""
        if not hasattr(self, "_least_side"):
            self._least_side = self._search_least_side(limit)
        return self._least_side

    def _runs_on(self, side: int) -> bool:
        trial = torch.zeros(1, 3, side, side, device=self.device, dtype=self.dtype)
        try:
            with torch.no_grad():
                self.module(trial)
        except RuntimeError:
            return False
        return True

    def _search_least_side(self, limit: int) -> int | None:
        failing, side = 0, 1
        while not self._runs_on(side):
            failing, side = side, side * 2
            if side > limit:
                return None
        while side - failing > 1:
            middle = (failing + side) // 2
            failing, side = (failing, middle) if self._runs_on(middle) else (middle, side)
        return side

    def _refuse_small(self, inputs: torch.Tensor, name: str) -> None:
        """Raise ``InvalidArgument`` naming ``name`` when ``inputs`` are smaller than :meth:`least_input_side`."""
        height, width = (int(n) for n in inputs.shape[-2:])
        least = self.least_input_side()
        if least is None or min(height, width) >= least:
            return
        resized = self.preprocessing.resize is not None or self.preprocessing.crop is not None
        raise invalid(
            name,
            f"images of {height}x{width} pixels" + (" after the model's preprocessing" if resized else ""),
            f"images of at least {least}x{least} pixels, the least the model {self.name!r} runs on (found by "
            "trying): resize them, e.g. size=(H, W)",
        ) from None

    def __call__(self, images: object) -> torch.Tensor:
        """Convenience: images in any form -> model output, without gradients."""
        with torch.no_grad(), self.frozen():
            return self.forward(self.normalize(self.prepare(images)))

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Turn off the parameters' ``requires_grad`` for the block and restore each flag afterwards."""
        params = list(self.module.parameters())
        flags = [p.requires_grad for p in params]
        try:
            for p in params:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in zip(params, flags):
                p.requires_grad_(flag)

    def _check_output(self, output: object, batch: int) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[0] != batch:
            raise invalid(
                "model output",
                output if isinstance(output, torch.Tensor) else type(output).__name__,
                f"a tensor [{batch}, {self._output_name}] for a batch of {batch}",
            )

    _output_name = "D"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, device={self.device}, preprocessing={self.preprocessing})"

    # --------------------------------------------------------------------------------- constructors
    @classmethod
    def from_torchvision(
        cls,
        name: str,
        weights: Any = "DEFAULT",
        *,
        weights_path: str | Path | None = None,
        device: str | torch.device | None = None,
        **kwargs,
    ) -> Model:
        """A torchvision architecture by name, with its weights enum's own transforms and labels.

        Args:
            name: a torchvision classification model name, e.g. ``"resnet50"``.
            weights: a weights enum member or its name (``"IMAGENET1K_V2"``, ``"DEFAULT"``). It decides the
                preprocessing and the labels. Without ``weights_path`` its parameters are downloaded by
                torchvision into the torch hub cache (needs the network once).
            weights_path: a local file holding the state dict to load instead of downloading.
            device: where to run.
            kwargs: passed on to the wrapper (e.g. ``max_batch``).
        """
        import torchvision

        try:
            enum = torchvision.models.get_model_weights(name)
        except (ValueError, KeyError):
            available = ", ".join(sorted(torchvision.models.list_models(torchvision.models)))
            raise invalid("name", name, f"a torchvision classification model ({available})") from None
        if isinstance(weights, str):
            try:
                weights = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
            except KeyError:
                members = ", ".join(["DEFAULT", *enum.__members__])
                raise invalid("weights", weights, f"one of {members}") from None
        elif weights not in list(enum):
            raise invalid("weights", weights, f"a member of {enum.__name__}")
        module = torchvision.models.get_model(name, weights=None)
        if weights_path is not None:
            load_state_dict_file(module, weights_path)
        else:
            module.load_state_dict(weights.get_state_dict(progress=True))
        module = cls._adapt_torchvision(module)
        module.eval()
        return cls(
            module,
            preprocessing=Preprocessing.from_torchvision(weights.transforms()),
            labels=weights.meta.get("categories") if cls is Classifier else None,
            device=device,
            name=f"{name} ({weights.name})",
            **kwargs,
        )

    @staticmethod
    def _adapt_torchvision(module: nn.Module) -> nn.Module:
        return module


class Classifier(Model):
    """A model whose output is logits ``[N, C]``. Scores are softmax probabilities unless a target says logit.

    See :class:`Model` for the arguments.
    """

    kind = "classifier"
    _output_name = "C"

    def probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``[N, C]`` of a normalised batch."""
        return F.softmax(self.forward(inputs), dim=1)


class Embedder(Model):
    """A model whose output is embedding vectors ``[N, D]``; explained through similarity targets.

    :meth:`from_torchvision` turns a torchvision classifier into an embedder by replacing its final linear
    layer with the identity: ``fc``, ``classifier``, ``head`` or ``heads`` itself, or the last ``nn.Linear`` inside
    it when it is a block (VGG's and MobileNetV3's hidden layers, ConvNeXt's norm and flatten, ViT's ``heads``
    stay), so the vector is the penultimate representation ``[N, D]``. See :class:`Model` for the arguments.
    """

    kind = "embedder"

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Embedding vectors ``[N, D]`` of a normalised batch."""
        return self.forward(inputs)

    @staticmethod
    def _adapt_torchvision(module: nn.Module) -> nn.Module:
        for attribute in ("fc", "classifier", "head", "heads"):
            head = getattr(module, attribute, None)
            linears = (
                [name for name, sub in head.named_modules() if isinstance(sub, nn.Linear)]
                if isinstance(head, nn.Module)
                else []
            )
            if linears:
                parent, _, last = f"{attribute}.{linears[-1]}".rstrip(".").rpartition(".")
                setattr(module.get_submodule(parent), last, nn.Identity())
                return module
        raise invalid("name", type(module).__name__, "a torchvision model with a linear fc/classifier/head layer")


def _first_tensor(module: nn.Module) -> torch.Tensor | None:
    """The module's first parameter, else its first buffer, else None: where the module lives."""
    first = next(iter(module.parameters()), None)
    return first if first is not None else next(iter(module.buffers()), None)


def _device_arg(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise invalid("device", device, "a torch device such as 'cpu' or 'cuda:0'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise invalid("device", str(device), "an available device: CUDA is not available here (use 'cpu')")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise invalid("device", str(device), f"a CUDA index below {torch.cuda.device_count()}")
    return device


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA, MPS and CPU allocator out-of-memory errors."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def load_state_dict_file(module: nn.Module, path: str | Path) -> None:
    """Load the state dict saved at ``path`` into ``module`` (``torch.load(weights_only=True)``: no pickled code
    runs); any file that is not a state dict of matching keys and shapes raises an ``XWidgetsError`` naming
    ``weights_path``."""
    path = Path(path)
    if not path.is_file():
        raise invalid("weights_path", f"'{path}', which is not a file", "a local state-dict file (.pth/.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise invalid(
            "weights_path",
            f"'{path}', which torch.load could not read ({error})",
            "a state dict saved with torch.save(module.state_dict(), path)",
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise invalid("weights_path", f"a file holding {type(state).__name__}", "a state dict")
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise invalid(
            "weights_path",
            f"a state dict with {len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}) "
            f"and {len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]})",
            f"the state dict of this architecture ({type(module).__name__})",
        )


def _resize(batch: torch.Tensor, resize: int | tuple[int, int]) -> torch.Tensor:
    height, width = batch.shape[-2:]
    size: tuple[int, ...]
    if isinstance(resize, int):
        scale = resize / min(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
    else:
        size = tuple(resize)
    if size == (height, width):
        return batch
    return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)


def _centre_crop(batch: torch.Tensor, crop: tuple[int, int], name: str) -> torch.Tensor:
    height, width = batch.shape[-2:]
    ch, cw = crop
    if ch > height or cw > width:
        raise invalid(name, f"images of size {height}x{width} after resizing", f"at least the crop size {ch}x{cw}")
    top, left = (height - ch) // 2, (width - cw) // 2
    return batch[..., top : top + ch, left : left + cw]


def check_model(model: object, kind: type[Model] | None = None, *, name: str = "model") -> Model:
    """Return ``model`` if it is an xwidgets :class:`Model` (of ``kind`` when given), else raise ``InvalidArgument``.

    Every public entry calls this first. A raw ``torch.nn.Module`` gets the line that wraps it: for a torchvision
    model recognised by :func:`torchvision_name`, ``xw.Classifier.from_torchvision("resnet50")`` or the wrapper
    with its weights' preprocessing; else ``xw.Classifier(net.eval(), preprocessing=xw.core.Preprocessing(...))``.
    """
    kind = kind or Model
    if isinstance(model, kind):
        if model.module.training:  # switched back after wrapping: every pass would refuse it, say so up front
            raise invalid(
                name,
                f"the {type(model).__name__} {model.name!r}, whose module is in training mode",
                "a module in eval mode: call model.module.eval() first",
            )
        return model
    wanted = {
        Model: "an xw.Classifier or xw.Embedder",
        Classifier: "an xw.Classifier",
        Embedder: "an xw.Embedder (a similarity model)",
    }[kind]
    if isinstance(model, nn.Module):
        raise invalid(
            name,
            f"a raw torch.nn.Module ({type(model).__name__})",
            f"{wanted} that wraps it once with its preprocessing: {_wrapping_line(model, kind, name)}",
        )
    if isinstance(model, Model):
        raise invalid(name, f"the {type(model).__name__} {model.name!r}", wanted)
    raise invalid(name, f"an object of type {type(model).__name__}", f"{wanted} (wrap your torch module first)")


def _wrapping_line(module: nn.Module, kind: type[Model], name: str) -> str:
    """The line a user writes to wrap ``module``, with the real preprocessing of a recognised torchvision model."""
    wrapper = "xw.Embedder" if kind is Embedder else "xw.Classifier"
    known = torchvision_name(module)
    if known is None:
        return (
            f"{name} = {wrapper}(net.eval(), preprocessing=xw.core.Preprocessing(mean=..., std=...)) with the "
            "mean and std the network was trained with (mean=None, std=None for [0, 1] input)"
        )
    import torchvision

    pre = Preprocessing.from_torchvision(torchvision.models.get_model_weights(known).DEFAULT.transforms())
    return (
        f'{name} = {wrapper}.from_torchvision("{known}") for torchvision\'s weights, or to keep these weights '
        f"{name} = {wrapper}(net.eval(), preprocessing=xw.core.{pre!r})"
    )


def torchvision_name(module: nn.Module) -> str | None:
    """The torchvision model name of ``module`` (e.g. ``"resnet50"``), or None when it is not a torchvision model
    or not one of its standard configurations (same module, same parameter count as one of its weights)."""
    source = type(module).__module__
    if not source.startswith("torchvision.models"):
        return None
    import torchvision

    count = sum(p.numel() for p in module.parameters())
    for candidate in torchvision.models.list_models(torchvision.models):
        if torchvision.models.get_model_builder(candidate).__module__ != source:
            continue
        if any(w.meta.get("num_params") == count for w in torchvision.models.get_model_weights(candidate)):
            return candidate
    return None

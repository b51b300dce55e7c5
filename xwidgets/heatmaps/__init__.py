"""Heatmap methods. Each has the call shape ``method(model, images, target=None, *, size=None, **params)`` and
returns a :class:`SaliencyResult`; :func:`xwidgets.explain` dispatches by name. ``model`` is an ``xw.Classifier`` or
``xw.Embedder`` (a raw ``nn.Module`` is refused with the line that wraps it); ``target`` an index, a class name of a
labelled model, one per image, or a Target; ``size=(H, W)`` resizes images of different sizes first; the method
runs in the model's dtype (float32, float16, bfloat16) and returns float32 maps."""

# The registration order is the order of every method menu and of help(xw.explain): the papers' methods first.
from .igos import IGOS_PARAMS, IGOSResult, igos
from .igospp import IGOSPP_PARAMS, IGOSPPResult, igospp
from .result import DegenerateMapWarning, SaliencyResult

# isort: split
from .baselines import (
    GRADCAM_PARAMS,
    IG_PARAMS,
    OCCLUSION_PARAMS,
    RISE_PARAMS,
    gradcam,
    integrated_gradients,
    occlusion,
    rise,
)


def explain(model, images, method: str = "igos", target=None, **params) -> SaliencyResult:
    """Deprecated: use ``xw.explain(model, images, target, method=method, **params)`` (target before method).
    Kept for one release."""
    from ..api import explain as explain_any
    from ..core.deprecation import warn_deprecated

    warn_deprecated(
        "xw.heatmaps.explain(model, images, method, target) is deprecated: use "
        "xw.explain(model, images, target=None, *, method=...)"
    )
    return explain_any(model, images, target, method=method, **params)


__all__ = [
    "SaliencyResult",
    "DegenerateMapWarning",
    "IGOSResult",
    "IGOS_PARAMS",
    "igos",
    "IGOSPPResult",
    "IGOSPP_PARAMS",
    "igospp",
    "explain",
    "gradcam",
    "integrated_gradients",
    "occlusion",
    "rise",
    "GRADCAM_PARAMS",
    "IG_PARAMS",
    "OCCLUSION_PARAMS",
    "RISE_PARAMS",
    "HeatmapExplorer",
]


def __getattr__(name: str):
    """``HeatmapExplorer`` is imported on first use, so the kernels run where no widget library is installed;
    ``METHODS`` and ``PARAMS`` (deprecated) are read from the method registry."""
    if name in ("METHODS", "PARAMS"):
        from ..core.deprecation import warn_deprecated
        from ..core.methods import specs

        warn_deprecated(f"xw.heatmaps.{name} is deprecated: use xw.core.methods.specs('heatmap')")
        return {s.name: (s.kernel if name == "METHODS" else s.params) for s in specs("heatmap")}
    if name == "HeatmapExplorer":
        from .explorer import HeatmapExplorer

        return HeatmapExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

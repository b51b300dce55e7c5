"""Heatmap methods. Each has the call shape ``method(model, images, target=None, **params)`` and returns a
:class:`SaliencyResult`; :func:`explain` dispatches by name."""

from .baselines import (GRADCAM_PARAMS, IG_PARAMS, OCCLUSION_PARAMS, RISE_PARAMS, gradcam, integrated_gradients,
                        occlusion, rise)
from .igos import IGOS_PARAMS, IGOSResult, igos
from .igospp import IGOSPP_PARAMS, IGOSPPResult, igospp
from .result import DegenerateMapWarning, SaliencyResult

METHODS = {"igos": igos, "igospp": igospp, "gradcam": gradcam, "integrated_gradients": integrated_gradients, "rise": rise, "occlusion": occlusion}
PARAMS = {"igos": IGOS_PARAMS, "igospp": IGOSPP_PARAMS, "gradcam": GRADCAM_PARAMS, "integrated_gradients": IG_PARAMS, "rise": RISE_PARAMS,
          "occlusion": OCCLUSION_PARAMS}


def explain(model, images, method: str = "igos", target=None, **params) -> SaliencyResult:
    """Explain ``images`` with the heatmap method named ``method`` (one of :data:`METHODS`)."""
    from ..core.errors import invalid

    if method not in METHODS:
        raise invalid("method", method, "one of " + ", ".join(METHODS))
    return METHODS[method](model, images, target, **params)


__all__ = ["METHODS", "PARAMS", "SaliencyResult", "DegenerateMapWarning", "IGOSResult", "IGOS_PARAMS", "igos",
           "IGOSPPResult", "IGOSPP_PARAMS", "igospp", "explain", "gradcam", "integrated_gradients", "occlusion",
           "rise", "GRADCAM_PARAMS", "IG_PARAMS", "OCCLUSION_PARAMS", "RISE_PARAMS"]


def __getattr__(name: str):
    """``HeatmapExplorer`` is imported on first use, so the kernels run where no widget library is installed."""
    if name == "HeatmapExplorer":
        from .explorer import HeatmapExplorer

        return HeatmapExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

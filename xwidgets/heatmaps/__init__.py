"""Heatmap methods. Each has the call shape ``method(model, images, target=None, *, size=None, **params)`` and
returns a :class:`SaliencyResult`; :func:`explain` dispatches by name. ``model`` is an ``xw.Classifier`` or
``xw.Embedder`` (a raw ``nn.Module`` is refused with the line that wraps it); ``target`` an index, a class name of a
labelled model, one per image, or a Target; ``size=(H, W)`` resizes images of different sizes first; the method
runs in the model's dtype (float32, float16, bfloat16) and returns float32 maps."""

from .baselines import (GRADCAM_PARAMS, IG_PARAMS, OCCLUSION_PARAMS, RISE_PARAMS, gradcam, integrated_gradients,
                        occlusion, rise)
from .igos import IGOS_PARAMS, IGOSResult, igos
from .igospp import IGOSPP_PARAMS, IGOSPPResult, igospp
from .result import DegenerateMapWarning, SaliencyResult

METHODS = {"igos": igos, "igospp": igospp, "gradcam": gradcam, "integrated_gradients": integrated_gradients, "rise": rise, "occlusion": occlusion}
PARAMS = {"igos": IGOS_PARAMS, "igospp": IGOSPP_PARAMS, "gradcam": GRADCAM_PARAMS, "integrated_gradients": IG_PARAMS, "rise": RISE_PARAMS,
          "occlusion": OCCLUSION_PARAMS}


def explain(model, images, method: str = "igos", target=None, **params) -> SaliencyResult:
    """Explain ``images`` with the heatmap method named ``method`` (one of :data:`METHODS`); ``params`` go to the
    method (``size=``, ``seed=``, ``progress=`` and its :data:`PARAMS`)."""
    from ..core.errors import close_matches, invalid, one_of
    from ..core.models import check_model

    check_model(model)
    if method not in METHODS:
        hint = close_matches(method, list(METHODS)) if isinstance(method, str) else ""
        raise invalid("method", repr(method), one_of(list(METHODS)) + hint)
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

"""Visual summaries as a publication mosaic (matplotlib), as in the paper: one row per accepted summary, each sample
shown in context (the image greyed outside the proposal, the proposal outlined) at native resolution."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core.errors import XWidgetsError
from ..figures import PAPER_STYLE, PaperFigure, save_figure

__all__ = ["summary_figure", "in_context", "OUTSIDE_GREY", "OUTLINE"]

#: The grey (64 / 255, as in the official renderer) that replaces the image outside a sample's box.
OUTSIDE_GREY = 64 / 255
#: The colour of a sample's outline: cyan, which stands out on the dimmed context and on warm-coloured birds.
OUTLINE = "#00E5FF"


def in_context(image: np.ndarray, box) -> np.ndarray:
    """``image`` ``[H, W, 3]`` in [0, 1] with everything outside ``box`` (x0, y0, x1, y1) dimmed towards grey."""
    x0, y0, x1, y1 = (int(v) for v in box)
    shown = 0.35 * image + 0.65 * OUTSIDE_GREY
    shown[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return shown


def summary_figure(result, *, samples: int = 6, path=None, panel_inches: float = 0.9, title: str | None = None
                   ) -> Figure:
    """Draw the accepted summaries of a :class:`~xwidgets.summaries.summary.SummaryResult`, ``samples`` per row."""
    rows = result.accepted
    if not rows:
        raise XWidgetsError("no accepted summary to draw: lower ssim_factor or preference_factor, or add images")
    columns = max(min(samples, len(r["samples"])) for r in rows)
    images = result.images.permute(0, 2, 3, 1).clamp(0, 1).numpy()
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(panel_inches * columns + 0.9, panel_inches * len(rows) + 0.4),
                             layout="constrained")
        axes = figure.subplots(len(rows), columns, squeeze=False)
        for row, summary in enumerate(rows):
            for column in range(columns):
                axis = axes[row, column]
                axis.set_xticks([])
                axis.set_yticks([])
                if column >= len(summary["samples"][:samples]):
                    axis.set_axis_off()
                    continue
                proposal = summary["samples"][column]
                box = result.boxes[proposal].tolist()
                axis.imshow(in_context(images[int(result.box_image[proposal])].copy(), box), interpolation="nearest")
                axis.add_patch(Rectangle((box[0] - 0.5, box[1] - 0.5), box[2] - box[0], box[3] - box[1],
                                         fill=False, edgecolor=OUTLINE, linewidth=1.2))
                for spine in axis.spines.values():
                    spine.set_visible(False)
            axes[row, 0].set_ylabel(f"summary {row + 1}\nSSIM {summary['ssim']:.2f}")
        figure.suptitle(title if title is not None else
                        f"{result.target_name}: {len(rows)} summaries from {result.images.shape[0]} images")
    if path is not None:
        save_figure(figure, path)
    return figure

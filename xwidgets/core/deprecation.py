"""Names that moved or changed, kept working for one release: :func:`warn_deprecated` raises the
:class:`~xwidgets.core.errors.XWidgetsDeprecationWarning` on the caller's line, and :func:`moved` builds a
module-level ``__getattr__`` that serves each old name from its new home with that warning.

The new home is given as a string (``"xwidgets.toy:captions"``) and imported only when the old name is asked for,
so that a kernel package keeps an old name alive without importing the package the name moved to.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from .errors import XWidgetsDeprecationWarning

__all__ = ["moved", "warn_deprecated"]

#: The package's folder with a trailing separator: frames whose file is under it are xwidgets' own.
_PACKAGE = Path(__file__).resolve().parent.parent.as_posix() + "/"


def warn_deprecated(message: str) -> None:
    """Warn that an old name was used, with :class:`~xwidgets.core.errors.XWidgetsDeprecationWarning`, attributed
    to the first line outside xwidgets (the user's call, however many of xwidgets' wrappers lie between).

    Python shows a DeprecationWarning by default only where it is attributed to ``__main__`` (a script, a notebook
    cell), so a warning attributed to a line inside the package would stay hidden.

    Args:
        message: what is deprecated and the new call that replaces it.
    """
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.replace("\\", "/").startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, XWidgetsDeprecationWarning, stacklevel=level)


def moved(module: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A ``__getattr__`` for ``module`` (its ``__name__``) that serves the old names.

    Args:
        module: the name of the module the names were in, e.g. ``"xwidgets.text"``.
        names: old name -> new home ``"package.module:name"``.

    Returns:
        ``__getattr__(name)``: the object at the new home, after an XWidgetsDeprecationWarning that names both; any
        other name raises AttributeError as a module without it would.
    """

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, _, new = names[name].partition(":")
        warn_deprecated(f"{module}.{name} moved to {home}.{new}; the old name is kept until the next release")
        return getattr(importlib.import_module(home), new)

    return __getattr__

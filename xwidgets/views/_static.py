"""Where the built JS bundles live (``xwidgets/static``, produced by the build and git-ignored)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import XWidgetsError

STATIC = Path(__file__).resolve().parent.parent / "static"


def bundle(name: str) -> Path:
    """The path of ``static/<name>.js``; raises ``XWidgetsError`` with the fix when it was never built."""
    path = STATIC / f"{name}.js"
    if not path.is_file():
        raise XWidgetsError(
            f"the front-end bundle {path} is missing: install xwidgets with pip (which builds it) "
            "or run `npm install && npm run build` in js/"
        )
    return path

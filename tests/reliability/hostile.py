"""Hostile user text, and the checks that it reaches the page as text: shared by the Python-side injection tests
(tests/reliability/test_injection.py) and the browser test (tests/e2e/test_injection_in_jupyterlab.py).

:data:`HOSTILE` holds the strings a label, caption, file name or attribute name may carry: markup that runs script
when parsed as HTML, a ``javascript:`` URL, markup meant to show as text (``<b>bold</b>``, and ``&lt;b&gt;``,
which must show as those nine characters, not as ``<b>``), template syntax, a right-to-left override, a 300-character
label and emoji. :data:`JOINED` is all of them in one label, so that one explorer shows each of them everywhere a
label goes.

:func:`widget_texts` walks a widget and every widget it holds (children, marks, axes, tooltips...) and sorts each
string it sends to the browser into HTML (the ``value`` of ``HTML``/``HTMLMath``, a ``description`` with
``description_allow_html``) and text (everything else: button descriptions, options, tooltips, chart labels, and
the data of the anywidget views, which set it with ``textContent``). :func:`unsafe_html` names what an HTML value
would create that our strings must not (script, event handlers, foreign images, our markup unescaped);
:func:`shown_text` is what a reader sees of an HTML value (tags removed, entities decoded).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any

import torch

#: What the page must never run: each marker is set only if its string is parsed as markup or followed as a URL.
PWNED = "__xw_pwned"
LONG = ("a class name three hundred characters long " * 8)[:300]
HOSTILE: tuple[str, ...] = (
    f'<img src=x onerror="window.{PWNED}=1">',
    f"</script><script>window.{PWNED}=2</script>",
    f'"><svg onload="window.{PWNED}=3">',
    f"javascript:window.{PWNED}=4",
    "<b>bold</b>",
    "&lt;b&gt;",
    "{{7*7}}",
    "${7*7}",
    "\u202eright-to-left override",
    LONG,
    "🐦‍🔥 emoji 👩🏽‍🔬",
)
#: Every hostile string in one label (the right-to-left override last but one, so it reverses only the emoji).
JOINED = " ".join(HOSTILE[:8] + HOSTILE[9:10] + HOSTILE[8:9] + HOSTILE[10:])
#: The hostile strings a file or folder name can hold (no "/", at most 255 bytes).
FILE_NAMES = [text for text in HOSTILE if "/" not in text and len(text.encode()) < 200]
#: The strings that mean markup: escaped, each shows as itself; unescaped, each makes elements.
MARKUP = tuple(s for s in HOSTILE if any(c in s for c in "<>&"))

#: The synced traits that hold no user text (module names, layout and bundle source).
_SKIPPED = re.compile(r"^_(model|view)_|^_(esm|css|dom_classes)$|^(layout|style|icon|button_style|bar_style)$")
#: Tags our own HTML uses; anything else in an HTML value came from user text.
_OUR_TAGS = {"b", "bdi", "i", "br", "code", "div", "span", "ul", "li", "table", "tr", "th", "td", "p", "svg", "line"}


def widgets_in(root: Any) -> Iterator[Any]:
    """``root`` and every widget reachable from its synced traits (children, marks, axes, scales, tooltips...),
    each once."""
    import ipywidgets

    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, ipywidgets.Widget) and id(value) not in seen:
            seen.add(id(value))
            yield value
            stack.extend(getattr(value, name, None) for name in value.keys if not _SKIPPED.match(name))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def widget_texts(root: Any) -> tuple[list[str], list[str]]:
    """``(html, text)``: every string ``root`` and its widgets send to the browser, split into the values the
    browser parses as HTML and those it shows as text."""
    import ipywidgets

    htmls, texts = [], []
    for widget in widgets_in(root):
        for name in widget.keys:
            if _SKIPPED.match(name):
                continue
            value = getattr(widget, name, None)
            as_html = (name == "value" and isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath))) or (
                name == "description" and getattr(widget, "description_allow_html", False)
            )
            (htmls if as_html else texts).extend(_strings(value))
    return htmls, texts


class _Elements(HTMLParser):
    """The tags, attributes and text of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.text.append(data)


def _parsed(fragment: str) -> _Elements:
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    return parser


def shown_text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: its text with tags removed and entities decoded."""
    return "".join(_parsed(fragment).text)


def unsafe_html(fragment: str) -> list[str]:
    """What ``fragment`` would create that user text must not: a tag our HTML never uses (script, img, iframe...),
    an event-handler attribute, a ``javascript:`` URL, or one of :data:`MARKUP` left unescaped. Empty when safe."""
    found = []
    for tag, attrs in _parsed(fragment).tags:
        if tag not in _OUR_TAGS and not (tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,")):
            found.append(f"<{tag}> element")
        found += [f"{name}= on <{tag}>" for name in attrs if name.startswith("on")]
        found += [f"javascript: URL in <{tag} {n}>" for n, v in attrs.items() if v.strip().lower().startswith("java")]
    rest = fragment
    for text in sorted(MARKUP, key=len, reverse=True):  # our strings escaped, with quotes escaped or not
        for escaped in (html.escape(text), html.escape(text, quote=False)):
            rest = rest.replace(escaped, "")
    found += [f"unescaped {text!r}" for text in MARKUP if text in rest]
    return found


def double_escaped(strings: Iterable[str]) -> list[str]:
    """The :data:`MARKUP` strings that show escaped twice (a reader would see ``&lt;``) in ``strings`` (text, or
    the shown text of HTML)."""
    joined = "\n".join(strings)
    return [text for text in MARKUP if html.escape(text) in joined]


def missing(shown: Iterable[str], wanted: Iterable[str] = HOSTILE) -> list[str]:
    """The ``wanted`` strings that appear in none of ``shown`` (the long label counts by its first 60 characters,
    since views may shorten it with an ellipsis)."""
    joined = "\n".join(shown)
    return [text for text in wanted if (text[:60] if text is LONG else text) not in joined]


class _Scripts(HTMLParser):
    """Each ``<script>`` of a page with its attributes and text, parsed as a browser splits them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = {name: value or "" for name, value in attrs}
            self.scripts.append((self._open, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def running_scripts(page: str) -> list[str]:
    """The text of every ``<script>`` of ``page`` that a browser would run (no type, or a JavaScript type) and
    that holds :data:`PWNED`: empty when our strings only travel as data (JSON widget state)."""
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    runs = ("", "text/javascript", "module", "application/javascript")
    return [text for attrs, text in parser.scripts if attrs.get("type", "").lower() in runs and PWNED in text]


class Failing(torch.nn.Module):
    """The toy network until ``fail`` is set; then every forward pass raises a RuntimeError of hostile text."""

    def __init__(self, module):
        super().__init__()
        self.module, self.fail = module, False

    def forward(self, x):
        if self.fail:
            raise RuntimeError(JOINED)
        return self.module(x)

"""The docs ship with the repository: every page a method or a docstring names exists with its anchor, nothing cites
files outside the repository, and ``help(xw.explain)`` / ``help(xw.fit)`` list every method with its parameters."""

import pydoc
import re
from pathlib import Path

import pytest

import xwidgets as xw
from xwidgets.core.methods import KINDS, PER_IMAGE_KINDS, specs

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
OUTSIDE = re.compile(r"\b(METHODS|DESIGN)\.md\b")
DOCS_LINK = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([\w-]+\.md)(?:#([\w-]+))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped (word characters, hyphens and spaces
    kept), spaces turned into hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings, numbered as GitHub numbers repeated ones (``name``, ``name-1``, ...);
    code blocks are not headings."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def assert_resolves(page: str, anchor: str | None, where: str) -> None:
    path = DOCS / page
    assert path.is_file(), f"{where} links docs/{page}, which does not exist"
    if anchor:
        assert anchor in anchors(path), (
            f"{where} links docs/{page}#{anchor}, but no heading of docs/{page} has "
            f"that anchor (anchors: {', '.join(sorted(anchors(path)))})"
        )


def package_sources() -> list[Path]:
    return sorted((ROOT / "xwidgets").rglob("*.py"))


def shipped_texts() -> list[Path]:
    """Every text a user gets: the package's modules, the notebooks, the docs pages and the README."""
    return (
        package_sources()
        + sorted((ROOT / "notebooks").glob("*.ipynb"))
        + sorted(DOCS.glob("*.md"))
        + [ROOT / "README.md"]
    )


@pytest.mark.parametrize("path", shipped_texts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_cites_a_file_outside_the_repository(path):
    lines = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not lines, (
        f"{path.relative_to(ROOT)} cites METHODS.md or DESIGN.md, which are not in the repository; "
        "link the page under docs/ instead:\n" + "\n".join(lines)
    )


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.name)
def test_every_registered_method_names_an_existing_page_and_anchor(spec):
    page, _, anchor = spec.docs.partition("#")
    assert page.endswith(".md"), f"{spec.name}: docs={spec.docs!r} is not a page under docs/"
    assert_resolves(page, anchor or None, f"the spec of {spec.name!r}")


def test_every_docs_link_in_the_package_resolves():
    links = [
        (path, match) for path in package_sources() for match in DOCS_LINK.finditer(path.read_text(encoding="utf-8"))
    ]
    assert links, "the package links no docs page at all"
    for path, match in links:
        assert_resolves(match.group(1), match.group(2), str(path.relative_to(ROOT)))


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_link_between_docs_pages_resolves(page):
    for match in MARKDOWN_LINK.finditer(page.read_text(encoding="utf-8")):
        assert_resolves(match.group(1), match.group(2), f"docs/{page.name}")


def test_the_index_lists_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"({p.name}" not in index]
    assert not missing, f"docs/index.md does not link {missing}"


def test_every_documented_method_is_registered_and_every_registered_one_documented():
    """The index's table names each method as ``method=`` values in backticks; the registry must hold exactly
    those (a method added without a page, or a page for a method that does not exist, fails)."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in (DOCS / "index.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| [")
    ]
    documented = {name for page, methods, kind, *_ in rows if kind in KINDS for name in re.findall(r"`(\w+)`", methods)}
    registered = {s.name for s in specs()}
    assert documented - registered == set(), f"documented but not registered: {sorted(documented - registered)}"
    assert registered - documented == set(), f"registered but not in docs/index.md: {sorted(registered - documented)}"


def help_text(function) -> str:
    return pydoc.render_doc(function, renderer=pydoc.plaintext)


@pytest.mark.parametrize(
    ("function", "kinds"), [(xw.explain, PER_IMAGE_KINDS), (xw.fit, ("dataset",))], ids=["explain", "fit"]
)
def test_help_lists_every_method_with_its_parameters_and_an_example(function, kinds):
    text = help_text(function)
    methods = specs(kinds)
    assert methods, f"no method of kinds {kinds} is registered"
    for spec in methods:
        assert f"{spec.name} ({spec.title}, {spec.kind})" in text, f"help({function.__name__}) omits {spec.name!r}"
        for line in spec.params.doc().splitlines():  # name, kind, default, range and doc of each parameter
            assert line in text, f"help({function.__name__}) omits {spec.name!r}'s parameter line {line!r}"
        assert spec.example, f"{spec.name!r} declares no example for help({function.__name__})"
        assert spec.example in text, f"help({function.__name__}) omits {spec.name!r}'s example"
        assert f"docs/{spec.docs}" in text, f"help({function.__name__}) omits {spec.name!r}'s page"


def test_help_of_explain_names_no_dataset_method_and_help_of_fit_no_per_image_one():
    explain_text, fit_text = help_text(xw.explain), help_text(xw.fit)
    for spec in specs():
        entry = f"{spec.name} ({spec.title}, {spec.kind})"
        if spec.kind == "dataset":
            assert entry not in explain_text
        else:
            assert entry not in fit_text


def test_slug_follows_github():
    assert slug("Grad-CAM") == "grad-cam"
    assert slug("Integrated gradients") == "integrated-gradients"
    assert slug("iGOS++: bilateral saliency") == "igos-bilateral-saliency"
    assert slug("Departures from the official code") == "departures-from-the-official-code"

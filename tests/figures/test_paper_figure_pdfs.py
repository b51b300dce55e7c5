"""notebooks/07_paper_figures.ipynb, executed in a copy, writes one PDF per seed paper's classic layout; each is
rendered to PNG (tests/e2e/out/paper_<name>.png, to be looked at) and checked as a journal would: one page at the
preset's print width, not blank, and its text (vector text, so the PDF's text layer has it) names the class and
the method."""

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from xwidgets.figures import FIGURE_STYLES

pytestmark = pytest.mark.slow  # the notebook runs in a kernel: about a minute

ROOT = Path(__file__).parents[2]
NOTEBOOK = ROOT / "notebooks" / "07_paper_figures.ipynb"
OUT = ROOT / "tests" / "e2e" / "out"

#: Every figure the notebook writes: its preset and words its text must hold (class names, method names).
EXPECTED = {
    "igos_comparison": ("two-column", ["azure jay", "I-GOS", "Grad-CAM", "Occlusion", "deletion", "insertion"]),
    "sag": ("two-column", ["azure jay", "P10", "patch removed"]),
    "concepts": ("one-column", ["goldcap", "concept 1", "contribution"]),
    "summaries": ("two-column", ["ember thrush", "summary 1"]),
    "text": ("one-column", ["This is a goldcap because it has", "yellow head"]),
    "sane": ("one-column", ["cosine similarity", "RISE", "query", "reference"]),
}


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    """The notebook executed in a temporary copy of notebooks/ (so its figures/ is the test's own): name -> PDF."""
    folder = tmp_path_factory.mktemp("notebooks")
    shutil.copy(NOTEBOOK, folder)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(EXPECTED), "every figure is shown inline too"
    return {path.stem: path for path in sorted((folder / "figures").glob("*.pdf"))}


def test_the_notebook_writes_one_pdf_per_paper_layout(pdfs):
    assert sorted(pdfs) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_pdf_is_one_page_at_print_width_and_reads(pdfs, name):
    import pypdfium2

    style, words = EXPECTED[name]
    document = pypdfium2.PdfDocument(str(pdfs[name]))
    assert len(document) == 1
    page = document[0]
    assert page.get_width() == pytest.approx(72 * FIGURE_STYLES[style], abs=0.5)  # 237.6 pt or 504 pt
    OUT.mkdir(parents=True, exist_ok=True)
    image = page.render(scale=2).to_pil()
    image.save(OUT / f"paper_{name}.png")
    pixels = np.asarray(image.convert("L"), float)
    assert pixels.std() > 20, f"{name}: the page is nearly blank (pixel std {pixels.std():.1f})"
    assert (pixels < 250).mean() > 0.1, f"{name}: less than a tenth of the page is drawn on"
    text = " ".join(page.get_textpage().get_text_range().split())
    missing = [word for word in words if word not in text]
    assert not missing, f"{name}: the PDF's text lacks {missing}; it has: {text[:300]}"

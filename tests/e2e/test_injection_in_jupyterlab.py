"""Nothing injected, in the browser: every view and explorer opened in JupyterLab with hostile text runs none of it.

One notebook (written into the lab's root at test time) opens each view and each explorer with the hostile strings
of tests/reliability/hostile.py, all in one label (``JOINED``): a classifier's class names and name, view titles,
captions, node and edge labels and tooltips, a dataset folder's class folders and file names (its record shown
below the grid), the SANE attribute model's phrases, and an error raised inside a run. The strings come from the
kernel (imported there), so the notebook's code holds none of them and only the outputs can show them.

Asserted in chromium: no dialog opens; ``window.__xw_pwned`` stays undefined; no element our strings would create
exists in an output (``img[src="x"]``, ``svg[onload]``, an ``onerror``/``onload`` attribute, a ``<b>`` holding
"bold", a ``<script>``); no status phrase is drawn right to left (the right-to-left override stays inside its own
label); the outputs' visible text holds every hostile string literally (the 300-character label
by its start, where a view shortens it with an ellipsis). Screenshots: tests/e2e/out/injection_*.png.
"""

import nbformat
import pytest
from reliability.hostile import HOSTILE, LONG, PWNED

from .conftest import OUT, ROOT
from .steps import kernel, run_notebook
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS

pytestmark = pytest.mark.e2e

NOTEBOOK = "injection_e2e.ipynb"
#: The explorers and views the notebook opens (their root classes), each in its own cell.
OPENED = (
    ".xw-heatmap-explorer",
    ".xw-sag-explorer",
    ".xw-concept-explorer",
    ".xw-summary-explorer",
    ".xw-text-explorer",
    ".xw-match-explorer",
    ".xw-dataset-explorer",
)
SETUP = f"""\
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {str(ROOT / "tests")!r})
import numpy as np
from PIL import Image
import xwidgets as xw
from xwidgets.toy.models import TOY_PREPROCESSING
from reliability.hostile import FILE_NAMES, JOINED, Failing

toy = xw.toy.classifier()
model = xw.Classifier(toy.module, preprocessing=TOY_PREPROCESSING, labels=[f"{{i}}: {{JOINED}}" for i in range(11)],
                      name=JOINED)
data = xw.toy.dataset(22, seed=9811)
image = data.samples[0].image
"""
CELLS = [
    SETUP,
    "heat = xw.HeatmapView(image, np.linspace(0, 1, 112 * 112).reshape(112, 112), title=JOINED)\n"
    "heat.note = JOINED\nheat",
    "xw.GraphView([{'id': 'a', 'image': image, 'label': JOINED, 'detail': JOINED},\n"
    "              {'id': 'b', 'image': image, 'label': JOINED, 'detail': JOINED, 'level': 1}],\n"
    "             [{'source': 'a', 'target': 'b', 'label': JOINED}], title=JOINED, selected='a')",
    "xw.GalleryView([{'id': 'g', 'title': JOINED, 'detail': JOINED,\n"
    "                 'items': [{'id': 'i', 'image': image, 'caption': JOINED, 'detail': JOINED}]}], title=JOINED)",
    "heatmaps = xw.HeatmapExplorer(model, image, method='gradcam', compare='occlusion', target=3)\nheatmaps",
    "sag = xw.SAGExplorer(model, image, target=0, params={'max_roots': 1})\nsag",
    "concepts = xw.ConceptExplorer(model, data.images(), target=3, params={'retries': 0, 'epochs': 5, 'k': 3})\n"
    "concepts",
    "world = xw.toy.ToyWorld()\n"
    "birds = np.stack([world.sample(6, seed=9630 + i).image for i in range(4)])\n"
    "summaries = xw.SummaryExplorer(model, birds, 6, mask_params={'smooth_iterations': 5, 'sharp_iterations': 5})\n"
    "summaries",
    "text = xw.TextExplorer(xw.text.fit(model, data.images(), captions=xw.toy.captions(data), progress=False),\n"
    "                       data.images()[:2])\ntext",
    "attributes = xw.toy.attribute_model()\n"
    "attributes.phrases = [f'{i}: {JOINED}' for i in range(len(attributes.phrases))]\n"
    "match = xw.MatchExplorer(xw.toy.embedder(), data.images()[:3], attributes, params={'masks': 64})\nmatch",
    "folder = Path(tempfile.mkdtemp()) / 'birds'\n"
    "for i, name in enumerate(FILE_NAMES):\n"
    "    (folder / f'{i} {name}').mkdir(parents=True)\n"
    "    Image.fromarray(np.asarray(data.samples[i].image)).save(folder / f'{i} {name}' / f'{name}.png')\n"
    "run = xw.explain_dataset(model, xw.data.folder(folder), method='gradcam', store=folder.parent / 'run',\n"
    "                         metrics=False, progress=False)\n"
    "dataset = xw.DatasetExplorer(run, page_size=24)\n"
    "dataset.open_image(dataset.grid.tile_keys[0])\ndataset",
    "failing = Failing(model.module).eval()\n"
    "broken = xw.HeatmapExplorer(xw.Classifier(failing, preprocessing=TOY_PREPROCESSING, labels=model.labels),\n"
    "                            image, method='gradcam', run=False)\n"
    "failing.fail = True\nbroken.run()\nbroken",
    "for explorer in (heatmaps, sag, concepts, summaries, match):\n    explorer.wait(240)\nprint('all drawn')",
]

#: What our strings would have created in an output, had any been parsed as markup.
CREATED = """() => {
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
  const found = [];
  for (const output of outputs) {
    for (const el of output.querySelectorAll('img[src="x"], svg[onload], script, [onerror], [onload]'))
      found.push(el.outerHTML.slice(0, 120));
    for (const b of output.querySelectorAll('b')) if (b.textContent === 'bold') found.push('<b>bold</b>');
  }
  return found;
}"""
#: Phrases of the outputs' status lines drawn right to left (their first letter right of their last): a
#: right-to-left override in a class name that leaked out of its own phrase into the ones after it.
REVERSED_PHRASES = """() => [...document.querySelectorAll('.jp-OutputArea-output .xw-phrase')].flatMap((phrase) => {
  const text = phrase.textContent;
  if (!/^[ -~]{4,}$/.test(text)) return [];  // plain ASCII phrases only (a class name may be right to left)
  const walker = document.createTreeWalker(phrase, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  const first = nodes[0], last = nodes[nodes.length - 1], range = document.createRange();
  range.setStart(first, 0); range.setEnd(first, 1);
  const a = range.getBoundingClientRect();
  range.setStart(last, last.length - 1); range.setEnd(last, last.length);
  const b = range.getBoundingClientRect();
  return a.width > 0 && b.width > 0 && Math.abs(a.top - b.top) < 2 && a.left > b.left ? [text] : [];
})"""
#: The visible text of every output area.
OUTPUT_TEXT = "() => [...document.querySelectorAll('.jp-OutputArea-output')].map((o) => o.innerText).join('\\n')"


def test_hostile_text_runs_nothing_and_shows_literally(lab, page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab["root"] / NOTEBOOK)
    ready = ".jp-OutputArea-output:has-text('all drawn')"
    run_notebook(page, lab, NOTEBOOK, ready, name="injection", height=1400, timeout=170000)
    for explorer in OPENED:
        page.wait_for_selector(explorer, state="attached", timeout=30000)
    page.wait_for_selector(".xw-run-status:has-text('RuntimeError')", state="attached", timeout=30000)
    for index, explorer in enumerate(OPENED[:3]):
        page.evaluate(f"document.querySelector('{explorer}').scrollIntoView({{block: 'start'}})")
        page.screenshot(path=str(OUT / f"injection_{index}.png"))
    assert page.evaluate(f"() => typeof window.{PWNED}") == "undefined"
    assert not dialogs, dialogs
    assert not page.evaluate(CREATED)
    assert not page.evaluate(REVERSED_PHRASES)
    shown = page.evaluate(OUTPUT_TEXT)
    absent = [text for text in HOSTILE if (text[:60] if text is LONG else text) not in shown]
    assert not absent, absent
    assert kernel(page, "print(broken.error is not None)") == "True"
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected

"""DOM checks of readability the explorer browser tests share: text that is cut, phrases that wrap inside, boxes
that leave their container or overlap, and the width of a coloured outline in a screenshot."""

import io

CUT_TEXT = """(root) => [...document.querySelectorAll(root)].flatMap((r) => [...r.querySelectorAll(
  '.xw-gallery-caption, .xw-gallery-title, .xw-gallery-group-title, .xw-gallery-group-detail, .widget-html-content')])
  .filter((e) => e.offsetParent !== null && (e.scrollWidth > e.clientWidth + 1
                 || getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth))
  .map((e) => `${e.className}: ${e.textContent} (${e.scrollWidth} > ${e.clientWidth})`)"""

BROKEN_PHRASES = """(root) => [...document.querySelectorAll(root)].flatMap((r) => [...r.querySelectorAll('.xw-phrase')])
  .filter((e) => { const tops = [...e.getClientRects()].map((r) => r.top);
                   return e.offsetParent !== null && Math.max(...tops) - Math.min(...tops) > 4; })
  .map((e) => e.textContent)"""

PHRASE_COUNT = """(selector) => document.querySelector(selector).querySelectorAll('.xw-phrase').length"""

OUTSIDE_ROW = """(row) => { const box = document.querySelector(row);
  const items = box.querySelector('.xw-gallery-items'), frame = box.getBoundingClientRect();
  return [...box.querySelectorAll('.xw-gallery-thumb')].map((t, i) => [i, t.getBoundingClientRect()])
    .filter(([, r]) => r.left < frame.left - 0.5 || r.right > frame.right + 0.5
                       || r.right > items.getBoundingClientRect().right + 0.5)
    .map(([i]) => i).concat(items.scrollWidth > items.clientWidth ? ['scrolls'] : []); }"""

TICKS_ON_BARS = """(chart) => { const root = document.querySelector(chart);
  const bars = [...root.querySelectorAll('rect.bar')].map((b) => b.getBoundingClientRect());
  const figure = root.querySelector('svg').getBoundingClientRect();
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  return [...root.querySelectorAll('.axis .tick text')].filter((t) => t.textContent.trim() !== '')
    .map((t) => [t.textContent, t.getBoundingClientRect()])
    .filter(([, r]) => bars.some((b) => hit(r, b)) || r.top < figure.top || r.bottom > figure.bottom)
    .map(([text]) => text); }"""


def outline_width(png: bytes, colour: tuple[int, int, int], row: int, tolerance: int = 70) -> int:
    """The longest run of pixels near ``colour`` along pixel row ``row`` of a PNG screenshot (the width of a
    vertical outline drawn in that colour, in device pixels)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    longest = run = 0
    for x in range(image.width):
        pixel = image.getpixel((x, row))
        near = sum(abs(int(a) - b) for a, b in zip(pixel, colour)) <= tolerance
        run = run + 1 if near else 0
        longest = max(longest, run)
    return longest

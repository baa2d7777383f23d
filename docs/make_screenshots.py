"""Re-make the pictures in docs/img/ from real vidssl pages, as a person sees them in Chromium.

    .venv/bin/python docs/make_screenshots.py                         # short runs in a temporary folder
    .venv/bin/python docs/make_screenshots.py --demo RUN --compare CMP  # or pages you already have

Without ``--demo`` / ``--compare`` it runs ``vidssl demo --steps 20`` and ``vidssl compare
--methods simclr --seeds 0 1 --steps 10`` on the built-in data (a few minutes on two cores), so
the numbers in the pictures are those short runs', not the measured figures of the docs.
Each picture is one part of a page: the browser reports where that part is (its bounding
box, through a script added to a copy of the page), takes a screenshot of the whole page at
that width, and Pillow crops it, scales it to at most ``--max-width`` and stores it as a
palette PNG (a few hundred kB at most). Drives the browser with tests/browser.py.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import browser  # tests/browser.py: headless Chromium, shared with the report test

IMG = REPO / "docs" / "img"
WIDTH = 1200

# Where each picture is on its page: (file, page, CSS selector of the element it starts with,
# CSS selector of the element it ends at, which edge of that one ("top" stops before it), and
# the margin around the box in CSS pixels).
SHOTS = (
    ("report.png", "demo", "h1", "main > h2:nth-of-type(3)", "top", 16),  # title, headline, metrics tables
    ("retrieval.png", "demo", 'img[alt="Nearest neighbours"]', 'img[alt="Nearest neighbours"]', "bottom", 2),  # grid
    ("compare.png", "compare", "h1", "main > h2:nth-of-type(3)", "top", 16),  # the mean ± std table and the gains
)

_BOXES = """<script>addEventListener("load", () => {
  const box = (sel) => { const e = document.querySelector(sel); if (!e) return null;
    const r = e.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY]; };
  const out = {height: document.documentElement.scrollHeight, boxes: %s.map(box)};
  const pre = document.createElement("pre");
  pre.id = "vidssl-boxes";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def boxes(page: Path, selectors: list[str], tmp: Path) -> dict:
    """The page's height and each selector's box (left, top, right, bottom) in CSS pixels, as Chromium lays it out."""
    probe = tmp / f"boxes-{page.name}"
    probe.write_text(page.read_text().replace("</body>", _BOXES % json.dumps(selectors) + "</body>"))
    got = browser._run([f"--window-size={WIDTH},1000", "--virtual-time-budget=10000", "--dump-dom",
                        probe.resolve().as_uri()], tmp / "profile-boxes")
    m = re.search(r'<pre id="vidssl-boxes">(.*?)</pre>', got.stdout, re.DOTALL)
    if not m:
        sys.exit(f"{page}: the page did not finish loading in Chromium: {got.stderr[-2000:]}")
    return json.loads(html.unescape(m.group(1)))


def shoot(page: Path, first: str, last: str, edge: str, pad: int, out: Path, tmp: Path, max_width: int) -> None:
    found = boxes(page, [first, last], tmp)
    a, b = found["boxes"]
    if a is None or b is None:
        sys.exit(f"{page}: no element matches {first!r} / {last!r}: update SHOTS in {Path(__file__).name}")
    left, top = max(0, min(a[0], b[0]) - pad), max(0, a[1] - pad)
    right, bottom = min(WIDTH, max(a[2], b[2]) + pad), (b[1] if edge == "top" else b[3] + pad)
    full = browser.screenshot(page, tmp / f"full-{out.name}", WIDTH, int(found["height"]) + 50)
    with Image.open(full) as im:
        part = im.convert("RGB").crop((int(left), int(top), int(right), int(bottom)))
    if part.width > max_width:
        part = part.resize((max_width, round(part.height * max_width / part.width)), Image.LANCZOS)
    part.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out.relative_to(REPO)}: {part.width}x{part.height}, {out.stat().st_size // 1024} kB")


def vidssl(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("vidssl")), *args, "--no-progress"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, help="a run folder with report.html (default: run a 20-step demo)")
    ap.add_argument("--compare", type=Path, help="a compare folder with compare.html (default: run a short compare)")
    ap.add_argument("--max-width", type=int, default=1000, help="scale wider pictures down to this (default: 1000)")
    args = ap.parse_args()
    if not browser.CHROMIUM.exists():
        sys.exit(f"{browser.CHROMIUM} not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        demo, cmp = args.demo, args.compare
        if demo is None:
            demo = tmp / "demo"
            vidssl("demo", "--steps", "20", "--threads", "1", "--out", str(demo))
        if cmp is None:
            cmp = tmp / "compare"
            vidssl("compare", "--methods", "simclr", "--seeds", "0", "1", "--steps", "10", "--threads", "1",
                   "--out", str(cmp))
        pages = {"demo": demo / "report.html", "compare": cmp / "compare.html"}
        IMG.mkdir(parents=True, exist_ok=True)
        for name, page, first, last, edge, pad in SHOTS:
            shoot(pages[page], first, last, edge, pad, IMG / name, tmp, args.max_width)


if __name__ == "__main__":
    main()

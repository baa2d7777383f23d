"""Headless Chromium for tests that look at a page as a person would.

:func:`chromium` finds the browser or skips the test (it fails instead under CI, whose
``.ci/run`` installs Chromium, so a missing browser cannot turn the check into a skip).
:func:`rendered` loads a page in the browser and returns what the browser made of it:
each picture's natural width (0: it did not load) and the visible text.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]

# Appended to a copy of the page: once everything has loaded, write what the browser
# measured into the DOM, where --dump-dom prints it.
_PROBE = """<script>addEventListener("load", () => {
  const imgs = [...document.images];
  const out = {widths: imgs.map(i => i.naturalWidth), complete: imgs.map(i => i.complete),
               text: document.body.innerText};
  const pre = document.createElement("pre");
  pre.id = "vidssl-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} not found under CI: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} not found: install it (apt-get install chromium) to look at pages in a browser")


def _run(args: list[str], profile: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(chromium()), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def rendered(page: Path, tmp: Path) -> dict:
    """``{"widths": [...], "complete": [...], "text": str}`` of ``page`` as loaded by Chromium."""
    probe = tmp / f"probe-{page.name}"
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    got = _run(["--virtual-time-budget=10000", "--dump-dom", probe.resolve().as_uri()], tmp / "profile-dom")
    m = re.search(r'<pre id="vidssl-probe">(.*?)</pre>', got.stdout, re.DOTALL)
    assert m, f"the page did not finish loading in chromium: {got.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


def screenshot(page: Path, shot: Path, width: int = 1200, height: int = 3000) -> Path:
    got = _run([f"--screenshot={shot}", f"--window-size={width},{height}", page.resolve().as_uri()],
               shot.parent / "profile-shot")
    assert shot.is_file(), f"chromium wrote no screenshot: {got.stderr[-2000:]}"
    return shot

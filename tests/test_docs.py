"""The documentation a newcomer finds: a short README whose links work, and a docs page for every command.

Needs neither MkDocs nor a browser (``make test`` installs neither): it reads the Markdown
files and the CLI's parser. ``mkdocs build --strict`` (``make docs``, ``.ci/run``) checks the
rest: the rendering, the API reference and the anchors between docs pages.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

import pytest

from vidssl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MAX_README_LINES = 250
MAX_PICTURE_BYTES = 500_000

_FENCE = re.compile(r"^ *```.*?^ *```", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target), the text possibly over several lines; an optional "title"
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def commands() -> list[str]:
    """Every subcommand of ``vidssl`` (what ``vidssl --help`` lists)."""
    sub = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(sub) == 1, "vidssl's parser should have one set of subcommands"
    return sorted(sub[0].choices)


def prose(text: str) -> str:
    """``text`` without fenced code blocks; code spans kept as a placeholder (link text may be code)."""
    return _CODE_SPAN.sub("code", _FENCE.sub("", text))


def headings(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6} +(.+?) *#*$", _FENCE.sub("", text), re.MULTILINE)]


def slug(heading: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc ``slugify``, on the heading's text)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"[`*_]", "", text)  # code and emphasis marks
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """The anchors a page has: its headings', and the ids mkdocstrings gives ``::: identifier`` blocks."""
    text = page.read_text(encoding="utf-8")
    found, seen = set(), {}
    for h in headings(text):  # a repeated heading gets _1, _2, ... as in Python-Markdown
        s = slug(h)
        found.add(s if s not in seen else f"{s}_{seen[s]}")
        seen[s] = seen.get(s, 0) + 1
    found.update(re.findall(r"^::: *([\w.]+)", text, re.MULTILINE))
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return _LINK.findall(text) + _HTML_LINK.findall(text)


def _shown(p: Path) -> str:
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or whose anchor in a Markdown file, does not exist."""
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: {_shown(dest)} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading in {_shown(dest)} has the anchor #{anchor}")
    return bad


def test_every_command_has_a_section_in_the_docs():
    titles = {p.relative_to(ROOT): headings(p.read_text(encoding="utf-8")) for p in pages()}
    missing = [c for c in commands()
               if not any(re.search(rf"\bvidssl {re.escape(c)}\b", h) for hs in titles.values() for h in hs)]
    assert not missing, (f"no heading in docs/*.md names `vidssl {missing[0]}`: add a section for "
                         f"{', '.join('vidssl ' + c for c in missing)} (docs/cli.md has one per command)")


def test_commands_are_read_from_the_parser():
    # the check above is only as good as the list it walks
    assert {"demo", "pretrain", "eval", "finetune", "compare", "export", "index"} <= set(commands())


@pytest.mark.parametrize("page", [README, *pages()], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert links(page) or page != README, "the README should link to the docs"
    bad = broken_links(page)
    assert not bad, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(bad)


def test_readme_is_one_screen_or_two():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}): move sections to docs/"


def test_every_readme_table_links_to_how_it_was_measured():
    """A figure in the README carries how it was measured: each section with a table links to a docs page."""
    sections = re.split(r"^## ", _FENCE.sub("", README.read_text(encoding="utf-8")), flags=re.MULTILINE)
    for section in sections:
        if re.search(r"^\|.*\|$", section, re.MULTILINE):
            assert re.search(r"\]\(docs/[\w./-]+\.md(#[\w-]+)?\)", section), (
                f"README section {section.splitlines()[0]!r} has a table but no link to the docs page with its command")


def test_every_docs_page_is_in_the_nav():
    nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE))
    on_disk = {str(p.relative_to(DOCS)) for p in pages()}
    assert nav == on_disk, f"in the nav but not in docs/: {sorted(nav - on_disk)}; in docs/ but not in the nav: " \
                           f"{sorted(on_disk - nav)}"


def test_pictures_are_small_and_used():
    used = {(p.parent / t).resolve() for p in [README, *pages()] for t in links(p) if t.endswith(".png")}
    pictures = sorted((DOCS / "img").glob("*.png"))
    assert pictures, "docs/img/ should hold the screenshots (docs/make_screenshots.py makes them)"
    for pic in pictures:
        assert pic.stat().st_size <= MAX_PICTURE_BYTES, f"{pic.name} is {pic.stat().st_size} bytes: shrink it"
        assert pic.resolve() in used, f"docs/img/{pic.name} is not shown on any page"


def test_the_checks_catch_what_they_are_for(tmp_path):
    # a page with a missing file, a missing anchor and a command only in a code block
    (tmp_path / "there.md").write_text("# Title\n\n## `vidssl demo`\n")
    page = tmp_path / "page.md"
    page.write_text("[a](there.md#vidssl-demo) [b](missing.md) [c](there.md#nowhere) [d](https://example.org)\n"
                    "```\n[e](not-a-link.md)\n```\n")
    assert [b.split(":")[0] for b in broken_links(page)] == ["missing.md", "there.md#nowhere"]
    assert slug("A second decoder: `--decoder decord`") == "a-second-decoder-decoder-decord"
    assert slug("Faults: what a long run survives") == "faults-what-a-long-run-survives"

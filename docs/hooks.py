"""MkDocs hook: the docstrings' Sphinx roles read as plain code in the API reference.

vidssl's docstrings cross-reference with Sphinx roles (``:func:`name```), which Markdown
renders as the role's name beside the code (":func:name"); this drops the role and keeps the code.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub("", html)

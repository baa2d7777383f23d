"""The error a method raises when the clips it is given have a shape it cannot use."""

from __future__ import annotations

from vidssl.errors import VidsslError


class ClipShapeError(VidsslError, ValueError):
    """A ValueError that the CLI prints as one line (it is a VidsslError), with the flag to change."""

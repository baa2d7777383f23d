"""Decoding backends, chosen with ``--decoder`` (:attr:`vidssl.config.DataConfig.decoder`).

One module per backend, each with the same three names:

- ``read_frames(path, indices, short_side)``: ``(len(indices), H, W, 3)`` uint8 RGB,
  frame ``i`` being the ``i``-th frame the decoder outputs;
- ``read_all(path, short_side)``: ``(T, H, W, 3)``, T as :func:`vidssl.data.decode.probe` counts;
- ``CONVERSION``: how frames are converted and resized (part of frame-cache keys).

``pyav`` (default): :mod:`vidssl.data.decode`. ``decord``: :mod:`vidssl.data.decode_decord`,
optional (``pip install 'vidssl[decoders]'``); its full-size frames equal PyAV's, its
resized ones differ by 1-3 levels in 255 on average (ucf101-9, short side 128 to 40). PyAV stays the default because it measured
faster for random clips (bench/bench_loading.py; docs/benchmarks.md, "Decoders: PyAV and decord"). Datasets hold the
backend's name, not its module, so they pickle into DataLoader workers.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vidssl.errors import VidsslError

DECODERS = {"pyav": "vidssl.data.decode", "decord": "vidssl.data.decode_decord"}


def get_decoder(name: str) -> ModuleType:
    """The backend module called ``name``; a one-line :class:`VidsslError` if it is unknown or
    cannot run here (the optional package is not installed: the message says what to install)."""
    if name not in DECODERS:
        raise VidsslError(f"unknown --decoder {name!r}; choose one of: {', '.join(DECODERS)}")
    module = importlib.import_module(DECODERS[name])
    if hasattr(module, "require"):
        module.require()
    return module

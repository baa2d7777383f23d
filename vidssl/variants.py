"""Named flag sets for ``vidssl compare --variants FILE``: an ablation is a list of variants.

A variants file maps a row name to the pretraining flags that differ from the command's own
(JSON, or TOML on Python 3.11+)::

    {"recipe": {}, "framewise": {"framewise": true}, "shift0": {"temporal_shift": 0},
     "moco_v1": {"method": "moco_v1"}, "rgb": {"input": "rgb"}}

Keys are the pretraining flags' names (``temporal_shift`` or ``temporal-shift``: any field
of :class:`~vidssl.config.PretrainConfig`, :class:`~vidssl.config.DataConfig`,
:class:`~vidssl.config.AugConfig` or :class:`~vidssl.config.ModelConfig`), plus three that
only a variant has:

- ``"supervised": true``: spend the budget on labels instead (cross-entropy on the train
  split's classes, :func:`vidssl.eval.supervised.train_supervised`); the frozen backbone is
  then evaluated like any other, the reference a self-supervised row is read against.
- ``"random_init_only": true``: train nothing; the row holds the random-init baselines of
  the variant's network (e.g. ``{"width": 1.0, "random_init_only": true}``).
- ``"eval_data": {...}``: data flags for evaluation only (e.g. pretrain on some classes
  and probe on others: ``{"classes": "A,B", "eval_data": {"classes": "C,D"}}``).

Every variant is checked before anything trains: an unknown key or a value of the wrong
type is refused with one line naming the variant and the flag.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidssl.config import AugConfig, DataConfig, ModelConfig, PretrainConfig
from vidssl.errors import VidsslError

# fields a variant may not set: compare sets them per run, or they say where a run writes
_NOT_A_VARIANT_FLAG = {"out_dir", "seed", "resume", "data", "aug", "model"}
_PARTS: dict[str, type] = {"data": DataConfig, "aug": AugConfig, "model": ModelConfig}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Variant:
    """One row of an ablation: its name, the flags as given, and what only a variant can ask."""

    name: str
    flags: dict[str, Any] = field(default_factory=dict)  # pretraining flags (normalised names)
    supervised: bool = False  # spend the budget on labels (the supervised pre-training row)
    random_init_only: bool = False  # no training: the row is its network's random init
    eval_data: dict[str, Any] = field(default_factory=dict)  # data flags for evaluation only


def _owner(key: str) -> tuple[str | None, dataclasses.Field]:
    """Which config part holds flag ``key`` (None: PretrainConfig itself) and its field."""
    top = {f.name: f for f in dataclasses.fields(PretrainConfig)}
    if key in top and key not in _NOT_A_VARIANT_FLAG:
        return None, top[key]
    for part, cls in _PARTS.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if key in fields:
            return part, fields[key]
    raise KeyError(key)


def _check_type(variant: str, key: str, f: dataclasses.Field, value: Any) -> Any:
    """``value`` in the field's type (lists become tuples), or a one-line refusal."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    ann = str(f.type)

    def bad(want: str) -> VidsslError:
        return VidsslError(f"variant {variant!r}: flag {key!r} must be {want}, got {value!r}")

    if value is None:
        if default is None:
            return None
        raise bad(f"a {type(default).__name__}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, tuple) or ann.startswith("tuple"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                            for v in value):
            raise bad("a list of numbers")
        if isinstance(default, tuple) and len(value) != len(default):
            raise bad(f"a list of {len(default)} numbers")
        return tuple(float(v) for v in value)
    want = type(default) if default is not None else {"int": int, "float": float}.get(ann.split("|")[0].strip(), str)
    if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if want is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if want is str and isinstance(value, str):
        return value
    raise bad({int: "an integer", float: "a number", str: "a string"}.get(want, want.__name__))


def parse_variants(doc: Any, where: str = "variants") -> list[Variant]:
    """Variants from a ``{name: {flag: value}}`` mapping, every flag checked; order kept."""
    if not isinstance(doc, dict) or not doc:
        raise VidsslError(f"{where}: expected a non-empty mapping of variant names to flag sets, "
                          'e.g. {"recipe": {}, "framewise": {"framewise": true}}')
    out = []
    for name, flags in doc.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise VidsslError(f"{where}: variant name {name!r} must be letters, digits and _ . + - (it names folders)")
        if not isinstance(flags, dict):
            raise VidsslError(f"variant {name!r}: expected a mapping of flags, got {flags!r}")
        special: dict[str, Any] = {"supervised": False, "random_init_only": False, "eval_data": {}}
        clean: dict[str, Any] = {}
        for raw, value in flags.items():
            key = str(raw).lstrip("-").replace("-", "_")
            if key in ("supervised", "random_init_only"):
                if not isinstance(value, bool):
                    raise VidsslError(f"variant {name!r}: flag {key!r} must be true or false, got {value!r}")
                special[key] = value
            elif key == "eval_data":
                if not isinstance(value, dict):
                    raise VidsslError(f"variant {name!r}: eval_data must be a mapping of data flags, got {value!r}")
                fields = {f.name: f for f in dataclasses.fields(DataConfig)}
                for k, v in value.items():
                    k = str(k).lstrip("-").replace("-", "_")
                    if k not in fields:
                        raise VidsslError(f"variant {name!r}: eval_data flag {k!r} is not a data flag; "
                                          f"choose from {', '.join(sorted(fields))}")
                    special["eval_data"][k] = _check_type(name, f"eval_data.{k}", fields[k], v)
            else:
                try:
                    _, f = _owner(key)
                except KeyError:
                    raise VidsslError(f"variant {name!r}: unknown flag {raw!r} (a pretraining flag such as "
                                      "temporal_shift, method or input; or supervised, random_init_only, "
                                      "eval_data)") from None
                clean[key] = _check_type(name, key, f, value)
        if special["supervised"] and special["random_init_only"]:
            raise VidsslError(f"variant {name!r}: supervised and random_init_only exclude each other")
        out.append(Variant(name, clean, special["supervised"], special["random_init_only"], special["eval_data"]))
    return out


def load_variants(path: str | Path) -> list[Variant]:
    """Read a variants file (``.json``, or ``.toml`` on Python 3.11+) and check every variant."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise VidsslError(f"cannot read --variants {p} ({e.strerror or e}); pass a JSON or TOML file") from e
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise VidsslError(f"--variants {p}: TOML needs Python 3.11 or newer; write the file as JSON") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise VidsslError(f"--variants {p} is not valid TOML ({e})") from None
    else:
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise VidsslError(f"--variants {p} is not valid JSON ({e}); TOML files need the .toml suffix") from None
    return parse_variants(doc, f"--variants {p}")


def apply_variant(base: PretrainConfig, variant: Variant) -> PretrainConfig:
    """``base`` with the variant's flags set (each in the config part that owns it)."""
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {}
    for key, value in variant.flags.items():
        part, _ = _owner(key)
        if part is None:
            top[key] = value
        else:
            parts.setdefault(part, {})[key] = value
    for part, changes in parts.items():
        top[part] = dataclasses.replace(getattr(base, part), **changes)
    return dataclasses.replace(base, **top)


def eval_data_of(pcfg: PretrainConfig, variant: Variant) -> DataConfig | None:
    """The data evaluation reads: the pretraining data with the variant's ``eval_data`` flags (None: the same)."""
    return dataclasses.replace(pcfg.data, **variant.eval_data) if variant.eval_data else None

"""Every numeric and choice flag of every command, given a bad value: exit 2, one line, nothing written.

Property-based (hypothesis): for each command, each flag that takes a number or one of a set
of names is given a value outside what it accepts (below its range, above it, NaN, infinity,
an unknown name); the command must stop before it writes anything.
"""

import argparse
import contextlib
import io
import math
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidssl.cli import build_parser, main
from vidssl.config import INF, RANGES

# positional arguments each command needs (none of these exist: the flags must be refused first)
POSITIONAL = {"eval": ["missing.pt"], "finetune": ["missing-run"], "report": ["missing-run"], "embed": ["missing.pt"],
              "retrieve": ["missing.avi", "--embeddings", "missing.npz"], "export": ["missing.pt"], "index": ["missing"],
              "track": ["missing.pt"]}
# where each command starts its work: the flags must be refused before any of these is called
REACHED = ["vidssl.api.pretrain", "vidssl.api.demo", "vidssl.api.evaluate", "vidssl.api.finetune_run", "vidssl.api.report",
           "vidssl.api.embed", "vidssl.api.retrieve", "vidssl.compare.compare", "vidssl.export.export_encoder",
           "vidssl.data.index.index_dataset", "vidssl.api.track"]


class Reached(Exception):
    """A command got past its checks with a bad value."""


OUT = {"embed": "emb.npz", "export": "enc.safetensors", "index": "manifest.tsv"}  # --out is a file there


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _bounds(dest: str) -> tuple[float, float, bool] | None:
    """The loosest range any config gives this flag (a value outside it is bad for every command)."""
    rs = [r for k, r in RANGES.items() if k.split(".")[1] == dest]
    if not rs:
        return None
    return min(r[0] for r in rs), max(r[1] for r in rs), all(r[2] for r in rs)


def _cases() -> list[tuple[str, str, str, list]]:
    """(command, option string, kind, kind data) for every numeric or choice flag."""
    cases = []
    for cmd, p in _commands().items():
        for a in p._actions:
            if not a.option_strings or a.dest in ("help", "out_dir", "config", "preset") or a.nargs == 0:
                continue
            opt = a.option_strings[0]
            if a.choices is not None:
                cases.append((cmd, opt, "choice", list(a.choices)))
            elif a.type in (int, float) and _bounds(a.dest) is not None:
                cases.append((cmd, opt, "range", [*_bounds(a.dest), a.type is int]))
            elif getattr(a.type, "__name__", "").startswith("integer >= "):
                cases.append((cmd, opt, "range", [int(a.type.__name__.split()[-1]), INF, False, True]))
            elif getattr(a.type, "__name__", "").startswith("number "):  # "number > 0" or "number >= 0"
                _, op, low = a.type.__name__.split()
                cases.append((cmd, opt, "range", [float(low), INF, op == ">", False]))
            elif a.type in (int, float):
                raise AssertionError(f"vidssl {cmd} {opt} takes a number but has no range in config.RANGES")
    return cases


CASES = _cases()


def test_every_command_has_its_numeric_and_choice_flags_covered():
    flags = {(c, o) for c, o, _, _ in CASES}
    for must in [("pretrain", "--checkpoint-every"), ("pretrain", "--lr"), ("pretrain", "--hflip-p"), ("pretrain", "--split"),
                 ("compare", "--finetune-lr"), ("compare", "--seeds"), ("eval", "--knn-k"), ("finetune", "--lr"),
                 ("embed", "--clips-per-video"), ("retrieve", "-k"), ("index", "--min-frames"), ("demo", "--method"),
                 ("pretrain", "--decoder"), ("eval", "--holdout"),
                 ("track", "--topk"), ("track", "--temperature"), ("track", "--holdout"), ("track", "--stages")]:
        assert must in flags, must
    assert len(CASES) > 150


@st.composite
def bad_value(draw, kind: str, data: list) -> str:
    if kind == "choice":
        text = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12))
        return text if text not in data else text + "_x"
    lo, hi, open_lo, _integer = data
    options = [st.just("nan"), st.just("inf"), st.just("-inf")]
    below = lo if open_lo else lo - 1
    options.append(st.integers(max_value=math.floor(below), min_value=int(below) - 10**6).map(str))
    if hi != INF:
        options.append(st.integers(min_value=int(hi) + 1, max_value=int(hi) + 10**6).map(str))
    return draw(st.one_of(options))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_bad_value_of_any_flag_stops_with_one_line_and_writes_nothing(data):
    cmd, opt, kind, spec = data.draw(st.sampled_from(CASES))
    value = data.draw(bad_value(kind, spec))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / OUT.get(cmd, "out")
        argv = [cmd, *POSITIONAL.get(cmd, []), "--no-progress" if cmd in ("pretrain", "demo", "compare", "eval",
                                                                               "finetune", "report", "embed", "export",
                                                                               "index", "track") else None]
        argv = [a for a in argv if a]
        if cmd in ("pretrain", "demo", "compare", "eval", "embed", "export", "index", "track"):
            argv += ["--out", str(out)]
        argv += [opt, value]
        err = io.StringIO()
        with contextlib.ExitStack() as stack:
            for target in REACHED:  # a bad value that got through fails here at once, instead of training
                stack.enter_context(mock.patch(target, side_effect=Reached(f"{argv} reached {target}")))
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            e = stack.enter_context(pytest.raises(SystemExit))
            main(argv)
        msg = err.getvalue()
        assert e.value.code == 2, (argv, msg)
        assert msg.count("\n") == 1 and "Traceback" not in msg, (argv, msg)
        assert list(Path(tmp).iterdir()) == [], (argv, "wrote", list(Path(tmp).iterdir()))


def test_split_4_of_ucf101_says_which_splits_exist(capsys):
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--dataset", "ucf101", "--root", ".", "--split", "4", "--out", "/nonexistent/x"])
    assert e.value.code == 2 and "UCF101 and HMDB51 have splits 1-3" in capsys.readouterr().err


def test_every_numeric_field_of_every_config_has_a_range():
    import dataclasses

    from vidssl import config

    missing = []
    for cls in (config.DataConfig, config.AugConfig, config.ModelConfig, config.PretrainConfig, config.EvalConfig,
                config.FinetuneConfig):
        for f in dataclasses.fields(cls):
            t = str(f.type)
            if any(w in t for w in ("int", "float")) and f"{cls.__name__}.{f.name}" not in RANGES:
                missing.append(f"{cls.__name__}.{f.name}")
    assert missing == []

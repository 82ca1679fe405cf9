"""Every class and function of DeepCTR's manual (its API pages, sections
2.6-2.8, listed in `tests/data/deepctr_manual_api.txt`) exists at the same path
under `ctrkit` and takes the same arguments, in the same order, with the same
defaults: DeepCTR calls, positional or by keyword, mean the same to ctrkit.

`ACCEPTED_DIFFERENCES` holds the arguments ctrkit refuses, each with its
reason (README's migration section lists them; there are none now), and
`SPELLINGS` the manual's misspelt names, taken as keywords beside DeepCTR's
code's own spelling, which holds their position.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

MANUAL = Path(__file__).with_name("data") / "deepctr_manual_api.txt"

# (path, argument) -> reason
ACCEPTED_DIFFERENCES: dict[tuple[str, str], str] = {}

# (path, the manual's name) -> the name in DeepCTR's code
SPELLINGS = {("layers.sequence.AttentionSequencePoolingLayer", "support_masking"): "supports_masking"}


def _manual():
    entries = []
    for line in MANUAL.read_text().splitlines():
        if line and not line.startswith("#"):
            path, arguments = line.split("(", 1)
            function = ast.parse(f"def f({arguments[:-1]}): pass").body[0]
            names = [a.arg for a in function.args.args]
            defaults = [ast.literal_eval(d) for d in function.args.defaults]
            entries.append((path, list(zip(names, [inspect.Parameter.empty] * (len(names) - len(defaults)) + defaults))))
    return entries


def _parameters(obj):
    signature = inspect.signature(obj)  # a class: its constructor's
    return [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _same(a, b) -> bool:
    normalise = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    return normalise(a) == normalise(b)


@pytest.mark.parametrize("path, arguments", _manual(), ids=[path for path, _ in _manual()])
def test_ctrkit_takes_the_manuals_arguments(path, arguments):
    module, name = path.rsplit(".", 1)
    parameters = _parameters(getattr(importlib.import_module(f"ctrkit.{module}"), name))
    differences = []
    for position, (argument, default) in enumerate(arguments):
        if (path, argument) in ACCEPTED_DIFFERENCES:
            continue
        if (path, argument) in SPELLINGS:
            if argument not in [p.name for p in parameters if p.kind == p.KEYWORD_ONLY]:
                differences.append(f"the manual's keyword {argument!r} is not taken")
            argument = SPELLINGS[path, argument]
        if position >= len(parameters) or parameters[position].name != argument:
            found = parameters[position].name if position < len(parameters) else None
            differences.append(f"argument {position} is {found!r}, the manual's is {argument!r}")
        elif default is not inspect.Parameter.empty and not _same(parameters[position].default, default):
            differences.append(f"{argument} defaults to {parameters[position].default!r}, the manual's to {default!r}")
    assert differences == []


def test_the_manual_list_is_read_whole():
    paths = [path for path, _ in _manual()]
    assert len(paths) == len(set(paths)) > 60
    assert {"models.deepfm.DeepFM", "layers.sequence.Transformer", "feature_column.SparseFeat"} <= set(paths)
    assert dict(_manual())["models.deepfm.DeepFM"][3] == ("dnn_hidden_units", (256, 128, 64))

"""The sequence and multi-value examples run as scripts and print sensible results.

Each example runs as its own process (two at a time), on synthetic rows
always and on DeepCTR's MovieLens sample when it is present.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SAMPLE_DIR = ROOT.parent / "shared" / "data"
MOVIELENS = SAMPLE_DIR / "movielens_sample.txt"
HAVE_SAMPLE = MOVIELENS.is_file()

RUNS = {
    "din": ["run_din.py", "--epochs", "2"],
    "bst": ["run_din.py", "--model", "BST", "--epochs", "2"],
    "dien": ["run_dien.py", "--epochs", "2"],
    "dsin": ["run_dsin.py", "--epochs", "2"],
    "regression-synthetic": ["run_movielens_regression.py", "--synthetic", "2000", "--epochs", "10"],
    "multivalue-synthetic-weighted": [
        "run_multivalue_movielens.py", "--synthetic", "2000", "--weighted", "--epochs", "10",
    ],
    "multivalue-synthetic-vocabulary": [
        "run_multivalue_movielens.py", "--synthetic", "2000", "--vocabulary", "--epochs", "10",
    ],
}
if HAVE_SAMPLE:
    RUNS.update(
        {
            "regression-sample": ["run_movielens_regression.py", "--data", str(MOVIELENS), "--epochs", "1"],
            "multivalue-sample": ["run_multivalue_movielens.py", "--data", str(MOVIELENS), "--epochs", "1"],
            "multivalue-sample-hash": [
                "run_multivalue_movielens.py", "--data", str(MOVIELENS), "--hash", "--epochs", "1",
            ],
            "multivalue-sample-vocabulary": [
                "run_multivalue_movielens.py", "--data", str(MOVIELENS), "--vocabulary", "--epochs", "1",
            ],
        }
    )


def _run(args: list[str]) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=pythonpath)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(RUNS, pool.map(_run, RUNS.values())))
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {' '.join(RUNS[name])}\n{result.stderr[-3000:]}"
    return {name: result.stdout for name, result in results.items()}


def _number(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)} (\S+)$", output, re.MULTILINE)
    assert match, f"no line {label!r} in:\n{output[-2000:]}"
    return float(match.group(1))


def _predictions(output: str, model: str) -> list[float]:
    match = re.search(rf"^{model} predictions \[(.*)\]$", output, re.MULTILINE)
    assert match, f"no {model} predictions in:\n{output[-2000:]}"
    return [float(p) for p in match.group(1).split(",")]


@pytest.mark.slow
@pytest.mark.parametrize("name, model", [("din", "DIN"), ("bst", "BST"), ("dien", "DIEN"), ("dsin", "DSIN")])
def test_sequence_examples(outputs, name, model):
    output = outputs[name]
    loss = _number(output, f"{model} final loss")
    assert math.isfinite(loss) and loss > 0
    predictions = _predictions(output, model)
    assert len(predictions) == 3 and all(0.0 < p < 1.0 for p in predictions)


@pytest.mark.slow
def test_dien_example_trains_the_auxiliary_loss(outputs):
    # The training loss is the click log loss plus the auxiliary loss (about 2 log 2 at first).
    loss = _number(outputs["dien"], "DIEN final loss")
    click_loss = _number(outputs["dien"], "DIEN final binary_crossentropy")
    assert loss - click_loss > 0.5


@pytest.mark.slow
def test_movielens_regression_example_synthetic(outputs):
    # Predicting 0 would score about 13 (ratings are 1..5, mostly 3-5).
    mse = _number(outputs["regression-synthetic"], "test MSE")
    assert 0.0 < mse < 4.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["multivalue-synthetic-weighted", "multivalue-synthetic-vocabulary"])
def test_multivalue_example_synthetic(outputs, name):
    assert _number(outputs[name], "genres maxlen") == 5
    mse = _number(outputs[name], "validation MSE")
    assert 0.0 < mse < 4.0


@pytest.mark.slow
def test_multivalue_example_vocabulary_file(outputs):
    line = re.search(r"^age vocabulary (.+)$", outputs["multivalue-synthetic-vocabulary"], re.MULTILINE)
    assert line and Path(line.group(1)).name.endswith(".csv")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SAMPLE, reason="movielens_sample.txt is not present")
@pytest.mark.parametrize("name", ["multivalue-sample", "multivalue-sample-hash", "multivalue-sample-vocabulary"])
def test_multivalue_example_sample(outputs, name):
    # 200 rows, one epoch: the fit runs and scores finite numbers.
    assert _number(outputs[name], "genres maxlen") >= 1
    assert math.isfinite(_number(outputs[name], "validation MSE"))
    if name.endswith("vocabulary"):
        assert re.search(r"^age vocabulary .*movielens_age_vocabulary\.csv$", outputs[name], re.MULTILINE)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SAMPLE, reason="movielens_sample.txt is not present")
def test_movielens_regression_example_sample(outputs):
    assert math.isfinite(_number(outputs["regression-sample"], "test MSE"))

"""Every example runs as a script on a fresh clone, with the same options.

Each runs in its own process with `$CTRKIT_SAMPLE_DATA` pointing at an empty
folder, as on a clone without DeepCTR's sample files: with `--synthetic N` on
N rows, and without it on its own synthetic rows after one line saying so.
Sizes and epochs are tiny: these check that the scripts run and report,
`test_examples_criteo.py` and its neighbours check what they learn.
"""

from __future__ import annotations

import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ctrkit.tf_startup import ABSL_NOTICE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FALLBACK = re.compile(r"^no \S+ in \$CTRKIT_SAMPLE_DATA or \.\./shared/data: using [\d,]+ synthetic rows", re.MULTILINE)


@pytest.fixture
def no_samples(tmp_path) -> Path:
    folder = tmp_path / "no-samples"
    folder.mkdir()
    return folder


def run(script: str, *args: str, samples: Path, check: bool = True) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, CTRKIT_SAMPLE_DATA=str(samples), PYTHONPATH=pythonpath)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert result.returncode == 0, f"{script} {' '.join(args)}\n{result.stderr[-3000:]}"
    # ctrkit is imported before TensorFlow, whose start-up lines it filters
    assert ABSL_NOTICE not in result.stderr
    # output to a file or pipe: one line per epoch, no progress bar
    assert "\x1b[" not in result.stdout and "\b" not in result.stdout
    return result


def number(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)} (\S+)$", output, re.MULTILINE)
    assert match, f"no line {label!r} in:\n{output[-2000:]}"
    return float(match.group(1))


# script, fast options, the result line it prints
SYNTHETIC_RUNS = {
    "criteo": ("run_classification_criteo.py", ["--synthetic", "600", "--epochs", "1"], "test AUC"),
    "movielens": ("run_movielens_regression.py", ["--synthetic", "600", "--epochs", "1"], "test MSE"),
    "multivalue": ("run_multivalue_movielens.py", ["--synthetic", "600", "--epochs", "1", "--hash"], "validation MSE"),
    "mmoe": ("run_mmoe_census.py", ["--synthetic", "600", "--epochs", "1"], "test marital AUC"),
    "din": ("run_din.py", ["--synthetic", "600", "--epochs", "1"], "DIN test AUC"),
    "dien": ("run_dien.py", ["--synthetic", "600", "--epochs", "1"], "DIEN test AUC"),
    "dsin": ("run_dsin.py", ["--synthetic", "600", "--epochs", "1"], "DSIN test AUC"),
}


@pytest.mark.parametrize("name", SYNTHETIC_RUNS)
def test_example_runs_on_synthetic_rows(name, no_samples):
    script, args, label = SYNTHETIC_RUNS[name]
    output = run(script, *args, samples=no_samples).stdout
    assert not FALLBACK.search(output)  # --synthetic N is asked for: nothing to announce
    value = number(output, label)
    assert math.isnan(value) or value >= 0.0


def test_estimator_pandas_example_falls_back_to_synthetic_rows(no_samples):
    output = run("run_estimator_pandas.py", samples=no_samples).stdout
    assert len(FALLBACK.findall(output)) == 1, output
    assert 0.0 <= number(output, "test AUC") <= 1.0
    assert math.isfinite(number(output, "test LogLoss"))


def test_estimator_tfrecord_example_falls_back_to_synthetic_files(no_samples):
    output = run("run_estimator_tfrecord.py", "--epochs", "2", samples=no_samples).stdout
    assert len(FALLBACK.findall(output)) == 1, output
    result = ast.literal_eval(output.strip().splitlines()[-1])
    # 2,000 rows, 1,600 for training: two passes in batches of 256
    assert result["global_step"] == math.ceil(2 * 1600 / 256)
    assert 0.0 <= result["AUC"] <= 1.0 and math.isfinite(result["LogLoss"])


def test_sequence_example_reads_parquet_rows(tmp_path, no_samples):
    from ctrkit.data import make_behavior_sequences

    path = tmp_path / "behaviour.parquet"
    make_behavior_sequences(400, seed=1, maxlen=6, n_items=50, n_cates=5, n_users=40, n_sessions=2).frame.to_parquet(path)
    output = run("run_din.py", "--data", str(path), "--epochs", "1", samples=no_samples).stdout
    assert 0.0 <= number(output, "DIN test AUC") <= 1.0


def test_a_missing_data_file_is_named(no_samples):
    result = run("run_movielens_regression.py", "--data", "no/such/file.txt", samples=no_samples, check=False)
    assert result.returncode != 0
    assert "no/such/file.txt not found" in result.stderr and "Traceback" not in result.stderr

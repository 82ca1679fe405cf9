"""The manual's Criteo quick start runs with `ctrkit` imports (examples/run_classification_criteo.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "run_classification_criteo.py"
SAMPLE = Path(os.environ.get("CTRKIT_SAMPLE_DATA", ROOT.parent / "shared" / "data")) / "criteo_sample.txt"


def _run(*args: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    logloss = float(re.search(r"test LogLoss ([0-9.]+)", result.stdout).group(1))
    auc = float(re.search(r"test AUC ([0-9.]+)", result.stdout).group(1))
    return logloss, auc


@pytest.mark.parametrize("variant", [[], ["--hash"]], ids=["label-encoded", "hashed"])
def test_quick_start_learns_on_synthetic_criteo(variant):
    logloss, auc = _run("--synthetic", "20000", "--epochs", "2", *variant)
    assert auc > 0.67 and logloss < 0.55  # 20,000 rows, 2 epochs: about 0.68 (0.5 is chance)


@pytest.mark.parametrize("model", ["FLEN", "xDeepFM"])
def test_other_models_run_in_the_same_example(model):
    logloss, auc = _run("--synthetic", "5000", "--epochs", "1", "--model", model)
    assert 0.0 <= auc <= 1.0 and logloss > 0


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"DeepCTR's sample {SAMPLE} is not here")
@pytest.mark.parametrize("variant", [[], ["--hash"]], ids=["label-encoded", "hashed"])
def test_quick_start_on_deepctr_sample(variant):
    logloss, auc = _run("--data", str(SAMPLE), "--epochs", "3", *variant)
    assert 0.0 <= auc <= 1.0 and logloss > 0

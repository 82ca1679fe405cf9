"""TensorFlow's start-up lines come once, and only at the level TF_CPP_MIN_LOG_LEVEL asks, in processes using ctrkit."""

import os
import subprocess
import sys
from pathlib import Path

from ctrkit.tf_startup import ABSL_NOTICE

ROOT = Path(__file__).resolve().parent.parent
ONEDNN = "oneDNN custom operations are on"


def _stderr(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    environment.update(PYTHONPATH=pythonpath, **env)
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_start_up_lines_come_once_and_as_the_level_asks():
    # TensorFlow alone, at its default level: what a process without ctrkit shows.
    plain = _stderr("import tensorflow")
    with_ctrkit_all = _stderr("import ctrkit.feature_column", TF_CPP_MIN_LOG_LEVEL="0")
    with_ctrkit = _stderr("import ctrkit.feature_column; import keras; keras.ops.ones(2)")

    assert ABSL_NOTICE not in with_ctrkit_all
    # each start-up line once (TensorFlow alone writes the oneDNN notice twice on x86 builds)
    assert with_ctrkit_all.count(ONEDNN) == min(plain.count(ONEDNN), 1)
    # by default (level 1) no INFO line, and nothing else was there to show
    assert with_ctrkit.strip() == ""

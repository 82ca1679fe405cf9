"""``loadtest/locustfile.py`` run headless for 20 s against a real server with two models."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from serve_process import ROOT, export_tiny_models, served

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


def test_locust_headless_run_has_no_failures(tmp_path):
    repo = export_tiny_models(tmp_path / "models", ["alpha", "beta"])
    prefix = tmp_path / "locust"
    with served(repo, tmp_path) as url:
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4",
             "-t", "20s", "--host", url, "--csv", str(prefix), "--only-summary",
             "--rows-per-request", "1-30", "--ctr-models", "alpha=3,beta=1", "--body-pool", "16"],
            cwd=tmp_path, env={**os.environ, "LOADTEST_SHAPE": ""}, capture_output=True, text=True, timeout=80,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(f"{prefix}_stats.csv", newline="") as fh:
        stats = {row["Name"]: row for row in csv.DictReader(fh)}
    total = stats.pop("Aggregated")
    assert int(total["Request Count"]) > 50, total
    assert int(total["Failure Count"]) == 0, open(f"{prefix}_failures.csv").read()
    assert set(stats) == {f"/predict [{form}] {model}" for form in ("rows", "columns") for model in ("alpha", "beta")}
    counts = {name: int(row["Request Count"]) for name, row in stats.items()}
    alpha = counts["/predict [rows] alpha"] + counts["/predict [columns] alpha"]
    beta = counts["/predict [rows] beta"] + counts["/predict [columns] beta"]
    assert alpha > beta  # weighted 3:1
    with open(f"{prefix}_exceptions.csv", newline="") as fh:
        assert len(list(csv.reader(fh))) <= 1  # the header only

"""`ctrkit train`: a spec in, a validated and exported bundle out."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ctrkit.cli import main
from ctrkit.export import load_bundle
from ctrkit.training import TrainingSpec, model_input

ROOT = Path(__file__).resolve().parents[1]
DEMO_SPEC = ROOT / "models" / "criteo_deepfm" / "spec.yaml"


def _small_spec(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(DEMO_SPEC.read_text())
    raw["model"]["params"]["dnn_hidden_units"] = [16]
    raw["training"]["epochs"] = 1
    for key, value in changes.items():
        raw[key] = value
    path = tmp_path / "models" / "criteo_deepfm" / "spec.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_train_exports_successive_versions_with_metrics(tmp_path, capsys):
    spec = _small_spec(tmp_path)
    assert main(["train", str(spec), "--rows", "4000", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "validation: auc=" in out and "logloss=" in out
    assert "planted model auc" in out
    assert main(["train", str(spec), "--rows", "3000", "--verbose", "0"]) == 0
    # by default into the spec's own folder: models/criteo_deepfm/<n>/
    model_dir = spec.parent
    assert sorted(p.name for p in model_dir.iterdir() if p.is_dir()) == ["1", "2"]

    bundle = load_bundle(model_dir / "2")
    spec_json = json.loads((model_dir / "2" / "feature_spec.json").read_text())
    assert spec_json["model"] == {
        "name": "criteo_deepfm",
        "class": "DeepFM",
        "version": 2,
        "tasks": [{"name": "ctr", "type": "binary"}],
        "outputs": ["ctr"],
    }
    assert len(spec_json["features"]) == 39
    assert spec_json["training"]["rows_seen"] == 2400
    assert 0.0 <= spec_json["training"]["validation"]["auc"] <= 1.0

    # the bundle applies the in-graph hashing and log1p transform to raw values
    from ctrkit.data import make_criteo

    frame = make_criteo(50, seed=5).frame
    loaded = TrainingSpec.load(spec)
    from ctrkit.training import build_feature_columns

    columns = build_feature_columns(loaded.features, frame)
    scores = bundle.predict(model_input(frame, columns))["ctr"]
    assert scores.shape == (50,) and np.all((scores > 0) & (scores < 1))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": {"class": "NoSuchModel"}}, "is not a ctrkit model"),
        ({"surprise": 1}, "unknown top-level keys"),
        ({"label": "clicked"}, "label column(s) ['clicked']"),
        ({"features": [{"kind": "sparse", "names": ["C99"], "vocabulary_size": 10}]}, "column 'C99' is not in the data"),
    ],
)
def test_invalid_specs_fail_with_a_message_naming_the_problem(tmp_path, capsys, change, message):
    spec = _small_spec(tmp_path, **change)
    assert main(["train", str(spec), "--rows", "500", "--no-export", "--verbose", "0"]) == 2
    assert message in capsys.readouterr().err


def test_model_repository_is_the_folder_of_models_as_serve_reads_it(tmp_path, capsys):
    spec = _small_spec(tmp_path)
    repository = tmp_path / "fresh" / "repo"
    assert main(["train", str(spec), "--rows", "1000", "--verbose", "0", "--model-repository", str(repository)]) == 0
    assert f"exported {repository / 'criteo_deepfm' / '1'}" in capsys.readouterr().out
    assert sorted(p.relative_to(repository).as_posix() for p in repository.glob("*/*")) == ["criteo_deepfm/1"]
    assert load_bundle(repository / "criteo_deepfm" / "1").spec["model"]["name"] == "criteo_deepfm"
    assert not [p for p in spec.parent.iterdir() if p.is_dir()]  # nothing beside the spec


def test_the_old_repository_option_is_refused_with_its_new_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(tmp_path / "spec.yaml"), "--repository", str(tmp_path / "repo")])
    assert exit_info.value.code == 2
    assert "--repository is now --model-repository" in capsys.readouterr().err


def test_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in (
        "(default: the spec's data.rows)",
        "(default: the spec's training.epochs)",
        "(default: the folder above the spec's, e.g. models for models/<name>/spec.yaml)",
        "(default: 1 on a terminal, else 2)",
    ):
        assert default in out


def test_train_writes_one_line_per_epoch_when_not_on_a_terminal(tmp_path):
    spec = _small_spec(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "ctrkit.cli", "train", str(spec), "--rows", "1000", "--epochs", "2", "--no-export"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\x1b[" not in result.stdout and "\b" not in result.stdout  # no progress bar in a log file
    epochs = [line for line in result.stdout.splitlines() if " - loss: " in line]
    assert len(epochs) == 2, result.stdout


def test_console_script_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "ctrkit.cli", "--help"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "train" in result.stdout and "serve" in result.stdout

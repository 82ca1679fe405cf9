"""Distributed training: two workers on loopback with TF_CONFIG, a parameter-server cluster in one process."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from ctrkit.training import distribute
from ctrkit.data.criteo import make_criteo
from ctrkit.export import load_bundle
from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.data.pipelines import write_tfrecord

ROOT = Path(__file__).resolve().parent.parent
SPARSE = ["C1", "C2", "C5", "C6", "C14", "C17"]
DENSE = ["I1", "I3", "I7"]


def _env(**extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=pythonpath, **extra)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_from_sharded_tfrecords_and_the_chief_exports(tmp_path):
    columns = [SparseFeat(c, 100, 4, use_hash=True, dtype="string") for c in SPARSE] + [DenseFeat(c) for c in DENSE]
    frame = make_criteo(900, seed=11).frame
    for i, (start, stop) in enumerate([(0, 400), (400, 700), (700, 900)]):
        write_tfrecord(frame.iloc[start:stop], str(tmp_path / f"train-{i}.tfrecord"), columns)
    valid = make_criteo(200, seed=12).frame
    write_tfrecord(valid, str(tmp_path / "valid.tfrecord"), columns)
    spec = {
        "name": "two_workers",
        "data": {"source": "files", "format": "tfrecord", "pattern": "train-*.tfrecord", "valid_pattern": "valid.tfrecord", "shuffle_buffer": 256},
        "label": "label",
        "features": [
            {"kind": "sparse", "names": SPARSE, "vocabulary_size": 100, "embedding_dim": 4, "use_hash": True, "dtype": "string"},
            {"kind": "dense", "names": DENSE, "transform": "log1p"},
        ],
        "model": {"class": "DeepFM", "params": {"dnn_hidden_units": [8]}},
        "training": {"batch_size": 128, "epochs": 1, "learning_rate": 0.01, "model_dir": "checkpoints"},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))

    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    command = [sys.executable, "-m", "ctrkit.cli", "train", str(tmp_path / "spec.yaml"), "--repository", str(tmp_path / "repo"), "--verbose", "0"]
    workers = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=300))
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    assert f"exported {tmp_path / 'repo' / '1'}" in outputs[0][0]
    assert "exported" not in outputs[1][0]
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["1"]

    # worker 0 read files 0 and 2 (600 rows), worker 1 file 1 (300 rows): 64-row
    # batches each, 10 synchronous steps, every row seen once.
    bundle = load_bundle(tmp_path / "repo" / "1")
    training = bundle.spec["training"]
    assert training["rows_seen"] == 900 and training["workers"] == 2 and training["global_step"] == 10
    assert set(training["validation"]) == {"auc", "logloss"}
    assert (tmp_path / "checkpoints" / "ckpt-10.index").is_file()
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".worker")]

    features = {c: valid[c].fillna("").to_numpy(str) for c in SPARSE}
    features.update({c: valid[c].fillna(0).to_numpy("float32") for c in DENSE})
    ctr = bundle.predict(features)["ctr"]
    assert ctr.shape == (200,) and np.all((ctr > 0) & (ctr < 1)) and ctr.std() > 0


PARAMETER_SERVERS = textwrap.dedent(
    """
    import json, socket
    import keras, numpy as np, tensorflow as tf
    from ctrkit.feature_column import DenseFeat, SparseFeat
    from ctrkit.models import DeepFM
    from ctrkit.training import ParameterServerTrainer

    ports = []
    for _ in range(3):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
    cluster = tf.train.ClusterSpec({"worker": [f"127.0.0.1:{ports[0]}"], "ps": [f"127.0.0.1:{p}" for p in ports[1:]]})
    servers = [tf.distribute.Server(cluster, job_name=job, task_index=i, protocol="grpc")
               for job, n in (("worker", 1), ("ps", 2)) for i in range(n)]
    strategy = tf.distribute.ParameterServerStrategy(tf.distribute.cluster_resolver.SimpleClusterResolver(cluster, rpc_layer="grpc"))

    columns = [SparseFeat(f"C{i}", 1000, 4, use_hash=True, dtype="string") for i in (1, 2, 3)] + [DenseFeat("I1")]
    trainer = ParameterServerTrainer(lambda: DeepFM(columns, columns, dnn_hidden_units=(8,)),
                                     lambda: keras.optimizers.Adagrad(0.05), strategy=strategy, model_dir=MODEL_DIR, seed=0)
    rng = np.random.default_rng(0)
    x = {f"C{i}": rng.integers(0, 50, 512).astype(str) for i in (1, 2, 3)}
    x["I1"] = rng.random(512).astype("float32")
    y = (x["C1"].astype(int) % 3 == 0).astype("float32")
    train = lambda input_context=None: tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512).repeat().batch(64)
    evaluate = lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(256)
    before = trainer.evaluate(evaluate)
    result = trainer.train(train, steps=40)
    after = trainer.evaluate(evaluate)
    print(json.dumps({
        "devices": {v.path: v.value.device for v in trainer.model.trainable_variables},
        "before": before, "after": after, "global_step": result.global_step, "rows": result.rows,
        "checkpoint": trainer.latest_checkpoint,
    }))
    """
)


def test_parameter_server_training_keeps_the_tables_on_the_servers(tmp_path):
    script = PARAMETER_SERVERS.replace("MODEL_DIR", repr(str(tmp_path / "ps")))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    devices = report["devices"]
    assert all("/job:ps/" in device for device in devices.values())
    tables = [path for path in devices if path.endswith("embeddings")]
    assert {devices[t].split("/task:")[1][0] for t in tables} == {"0", "1"}  # spread over both servers
    assert report["global_step"] == 40 and report["rows"] == 40 * 64
    assert report["after"]["global_step"] == 40 and report["checkpoint"].endswith("ckpt-40")
    assert report["after"]["AUC"] > report["before"]["AUC"] + 0.2
    assert report["after"]["LogLoss"] < report["before"]["LogLoss"]


def test_cluster_membership_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.tf_config() == {} and distribute.is_chief() and not distribute.is_multi_worker()
    assert distribute.num_workers() == 1 and distribute.task_name() == "chief-0"
    workers = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}}))
    assert distribute.is_multi_worker() and not distribute.is_chief() and distribute.num_workers() == 2
    assert distribute.task_name() == "worker-1"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}}))
    assert distribute.is_chief()
    with_chief = {"chief": ["c:1"], "worker": ["a:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_chief() and distribute.num_workers() == 2
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {**workers, "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_multi_worker()
    with pytest.raises(ValueError, match="parameter servers"):
        distribute.strategy_from_environment()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.tf_config()


def test_ctrkit_train_streams_files_and_resumes_from_model_dir(tmp_path, monkeypatch):
    from ctrkit.training import SpecError, TrainingSpec, train_from_spec

    monkeypatch.delenv("TF_CONFIG", raising=False)
    frame = make_criteo(600, seed=13).frame
    frame.iloc[:300].to_parquet(tmp_path / "a.parquet", row_group_size=100)
    frame.iloc[300:].to_parquet(tmp_path / "b.parquet", row_group_size=100)
    raw = {
        "data": {"source": "files", "format": "parquet", "pattern": "*.parquet", "valid_pattern": "b.parquet"},
        "features": [
            {"kind": "sparse", "names": SPARSE, "vocabulary_size": 100, "embedding_dim": 4, "use_hash": True, "dtype": "string"},
            {"kind": "dense", "names": DENSE, "transform": "standardize"},
        ],
        "model": {"class": "WDL", "params": {"dnn_hidden_units": [8]}},
        "training": {"batch_size": 50, "epochs": 5, "steps": 6, "model_dir": "checkpoints", "learning_rate": 0.01},
    }
    first = train_from_spec(TrainingSpec.from_dict(raw, tmp_path), repository=tmp_path / "repo")
    assert first.rows_seen == 300 and set(first.validation) == {"auc", "logloss"}
    assert (tmp_path / "checkpoints" / "ckpt-6.index").is_file()

    raw["training"]["steps"] = 10
    second = train_from_spec(TrainingSpec.from_dict(raw, tmp_path), export=False)
    assert second.rows_seen == 200 and second.version_dir is None
    assert (tmp_path / "checkpoints" / "ckpt-10.index").is_file()
    spec = load_bundle(first.version_dir).spec
    assert spec["model"]["class"] == "WDL" and spec["training"]["global_step"] == 6

    with pytest.raises(SpecError, match="--rows applies"):
        train_from_spec(TrainingSpec.from_dict(raw, tmp_path), rows=10)
    raw["data"]["pattern"] = "nothing-*.parquet"
    with pytest.raises(SpecError, match="data.pattern"):
        train_from_spec(TrainingSpec.from_dict(raw, tmp_path))

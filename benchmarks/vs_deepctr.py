"""ctrkit beside DeepCTR: the same script, settings and data for both libraries.

    python benchmarks/vs_deepctr.py [--rows 500000] [--test-rows 100000] [--rounds 3]
                                    [--models DeepFM DCN xDeepFM DIN]

The first run creates DeepCTR's own virtual environment under
`$CTRKIT_BENCH_CACHE` (default `~/.cache/ctrkit-bench`): `deepctr==0.9.4`
with `tf-keras` on TensorFlow 2.21 (the only way DeepCTR runs on current
TensorFlow), never touching the environment that runs this script. It then
generates the data once into that directory:

* Criteo-like rows (`ctrkit.data.make_criteo`, train and test drawn from one
  planted model): 13 counts through `log1p` and min-max scaling, 26
  categorical columns label-encoded to integer ids over the values train and
  test hold, as DeepCTR's examples do (vocabularies of 3 to about 25,000).
  With `--id-space K`, columns of more than 1,000 distinct values get an id
  space K times larger (ids spread at random over it), as when the encoder
  was fit on a longer log than the training sample (K=20: vocabularies of up
  to about 500,000).
* behaviour sequences for DIN (`ctrkit.data.make_behavior_sequences`).

Each measurement runs in a fresh process of this same file (`--worker`),
with `ctrkit.models` or `deepctr.models` as the only difference: it builds
the model from the same feature columns, compiles it with Adam and binary
cross-entropy, times `fit` (batch 1,024, 2 epochs, wall time including the
first step's tracing), one `predict` on the test rows as a user calls it
(batch 4,096, float64 dense inputs as pandas gives them, the predict function
built by that call), a repeated call (the median of three), and a call with
float32 dense inputs, then scores the first predictions (AUC, log loss).
Workers run one at a time; in each round every model runs once per library,
the library that goes first alternating between rounds, so that both see the
same machine load. The table gives the median over rounds of each figure and
of the per-round ratios ctrkit / DeepCTR. It also gives rows per CPU second
of the worker process (all its threads): on a shared machine wall time
depends on the other processes, CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("DeepFM", "DCN", "xDeepFM", "DIN")
LIBRARIES = ("ctrkit", "deepctr")
DEEPCTR_REQUIREMENTS = ("deepctr==0.9.4", "tf-keras>=2.21,<2.22", "numpy")
SETTINGS = dict(embedding_dim=8, dnn_hidden_units=(256, 128), batch_size=1024, epochs=2, predict_batch_size=4096, seed=1024)


# ---------------------------------------------------------------- the worker
# Runs inside either environment: it imports numpy and the library only.


def _feature_columns(lib, meta: dict):
    fc = lib.feature_column
    dim = SETTINGS["embedding_dim"]
    if meta["kind"] == "criteo":
        sparse = [fc.SparseFeat(name, size, embedding_dim=dim) for name, size in meta["vocabulary"].items()]
        dense = [fc.DenseFeat(name, 1) for name in meta["dense"]]
        return sparse + dense
    columns = [fc.SparseFeat(name, size, embedding_dim=dim) for name, size in meta["vocabulary"].items()]
    columns += [fc.DenseFeat(name, 1) for name in meta["dense"]]
    for name in meta["history"]:
        columns.append(
            fc.VarLenSparseFeat(
                fc.SparseFeat(f"hist_{name}", meta["vocabulary"][name], embedding_dim=dim, embedding_name=name),
                maxlen=meta["maxlen"],
                length_name="seq_length",
            )
        )
    return columns


def _build(lib, model_name: str, columns: list, meta: dict, seed: int = SETTINGS["seed"]):
    common = dict(dnn_hidden_units=SETTINGS["dnn_hidden_units"], seed=seed, task="binary")
    if model_name == "DeepFM":
        return lib.models.DeepFM(columns, columns, **common)
    if model_name == "DCN":
        return lib.models.DCN(columns, columns, cross_num=2, **common)
    if model_name == "xDeepFM":
        return lib.models.xDeepFM(columns, columns, cin_layer_size=(128, 128), **common)
    if model_name == "DIN":
        return lib.models.DIN(columns, list(meta["history"]), att_hidden_size=(80, 40), **common)
    raise ValueError(f"unknown model {model_name!r}")


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def worker(args) -> None:
    import importlib

    import numpy as np

    lib = importlib.import_module(args.library)
    importlib.import_module(f"{args.library}.models")
    importlib.import_module(f"{args.library}.feature_column")
    import tensorflow as tf

    data_dir = Path(args.data)
    meta = json.loads((data_dir / "meta.json").read_text())
    train, test = np.load(data_dir / "train.npz"), np.load(data_dir / "test.npz")
    names = meta["inputs"]
    x_train = {name: train[name] for name in names}
    x_test = {name: test[name] for name in names}
    y_train = train["label"]

    tf.random.set_seed(args.seed)
    np.random.seed(args.seed)
    columns = _feature_columns(lib, meta)
    model = _build(lib, args.model, columns, meta, args.seed)
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])

    rows = len(y_train)
    cpu = time.process_time()
    _, fit_seconds = _timed(
        lambda: model.fit(x_train, y_train, batch_size=SETTINGS["batch_size"], epochs=SETTINGS["epochs"], verbose=0)
    )
    fit_cpu = time.process_time() - cpu
    batch = SETTINGS["predict_batch_size"]
    cpu = time.process_time()
    predictions, first = _timed(lambda: model.predict(x_test, batch_size=batch, verbose=0))
    first_cpu = time.process_time() - cpu
    repeated = statistics.median(_timed(lambda: model.predict(x_test, batch_size=batch, verbose=0))[1] for _ in range(3))
    x_float32 = {k: v.astype("float32") if v.dtype == np.float64 else v for k, v in x_test.items()}
    _, float32 = _timed(lambda: model.predict(x_float32, batch_size=batch, verbose=0))
    np.save(Path(args.out).with_suffix(".npy"), np.asarray(predictions, dtype="float64").reshape(-1))
    n_test = len(next(iter(x_test.values())))
    result = {
        "library": args.library,
        "model": args.model,
        "fit_rows_per_s": rows * SETTINGS["epochs"] / fit_seconds,
        "predict_first_rows_per_s": n_test / first,
        "predict_repeat_rows_per_s": n_test / repeated,
        "predict_float32_rows_per_s": n_test / float32,
        "fit_rows_per_cpu_s": rows * SETTINGS["epochs"] / fit_cpu,
        "predict_first_rows_per_cpu_s": n_test / first_cpu,
        "parameters": int(model.count_params()),
    }
    Path(args.out).write_text(json.dumps(result))


# ------------------------------------------------------- the orchestrator


def cache_dir() -> Path:
    return Path(os.environ.get("CTRKIT_BENCH_CACHE", Path.home() / ".cache" / "ctrkit-bench"))


def deepctr_python() -> Path:
    """DeepCTR's own virtual environment, created on first use."""
    import venv

    env_dir = cache_dir() / "deepctr-tf2.21"
    python = env_dir / "bin" / "python"
    stamp = env_dir / ".installed"
    if stamp.exists():
        return python
    print(f"creating DeepCTR's environment in {env_dir} (once)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    tensorflow = "tensorflow-cpu>=2.21,<2.22" if sys.platform.startswith("linux") else "tensorflow>=2.21,<2.22"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", tensorflow, *DEEPCTR_REQUIREMENTS], check=True)
    stamp.write_text("\n".join((tensorflow, *DEEPCTR_REQUIREMENTS)) + "\n")
    return python


def _minmax_log(train, test):
    import numpy as np

    train, test = np.log1p(np.nan_to_num(train, nan=0.0)), np.log1p(np.nan_to_num(test, nan=0.0))
    low, high = train.min(), train.max()
    scale = (high - low) or 1.0
    return (train - low) / scale, np.clip((test - low) / scale, 0.0, None)


def _criteo_data(directory: Path, rows: int, test_rows: int, id_space: int) -> None:
    import numpy as np
    import pandas as pd

    from ctrkit.data import make_criteo
    from ctrkit.data.criteo import CRITEO_DENSE_FEATURES, CRITEO_SPARSE_FEATURES

    train, test = make_criteo(rows, seed=0).frame, make_criteo(test_rows, seed=1).frame
    rng = np.random.default_rng(0)
    arrays: tuple[dict, dict] = ({"label": train["label"].to_numpy("float32")}, {"label": test["label"].to_numpy("float32")})
    vocabulary = {}
    for name in CRITEO_SPARSE_FEATURES:
        codes, uniques = pd.factorize(pd.concat([train[name], test[name]]).fillna("missing"))
        size = len(uniques)
        if size > 1000 and id_space > 1:
            spread = rng.choice(size * id_space, size, replace=False)
            codes, size = spread[codes], size * id_space
        vocabulary[name] = int(size)
        arrays[0][name], arrays[1][name] = codes[:rows].astype("int64"), codes[rows:].astype("int64")
    for name in CRITEO_DENSE_FEATURES:
        arrays[0][name], arrays[1][name] = _minmax_log(train[name].to_numpy("float64"), test[name].to_numpy("float64"))
    meta = {
        "kind": "criteo",
        "vocabulary": vocabulary,
        "dense": list(CRITEO_DENSE_FEATURES),
        "inputs": list(CRITEO_SPARSE_FEATURES) + list(CRITEO_DENSE_FEATURES),
    }
    _write(directory, arrays, meta)


def _behaviour_data(directory: Path, rows: int, test_rows: int) -> None:
    from ctrkit.data import make_behavior_sequences

    n_items, n_cates, n_users, maxlen = 50_000, 200, 100_000, 20
    sets = [make_behavior_sequences(n, seed=s, maxlen=maxlen, n_items=n_items, n_cates=n_cates, n_users=n_users) for n, s in ((rows, 0), (test_rows, 1))]
    arrays = []
    for ds in sets:
        f = ds.frame
        arrays.append(
            {
                "label": f["label"].to_numpy("float32"),
                "user": f["user"].to_numpy("int64"),
                "gender": f["gender"].to_numpy("int64"),
                "item_id": f["item_id"].to_numpy("int64"),
                "cate_id": f["cate_id"].to_numpy("int64"),
                "pay_score": f["pay_score"].to_numpy("float64"),
                "hist_item_id": ds.sequences["hist_item_id"].astype("int64"),
                "hist_cate_id": ds.sequences["hist_cate_id"].astype("int64"),
                "seq_length": f["seq_length"].to_numpy("int64"),
            }
        )
    meta = {
        "kind": "behaviour",
        "vocabulary": {"user": n_users, "gender": 2, "item_id": n_items + 1, "cate_id": n_cates + 1},
        "dense": ["pay_score"],
        "history": ["item_id", "cate_id"],
        "maxlen": maxlen,
        "inputs": ["user", "gender", "item_id", "cate_id", "pay_score", "hist_item_id", "hist_cate_id", "seq_length"],
    }
    _write(directory, arrays, meta)


def _write(directory: Path, arrays, meta: dict) -> None:
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "train.npz", **arrays[0])
    np.savez(directory / "test.npz", **arrays[1])
    (directory / "meta.json").write_text(json.dumps(meta))


def prepare_data(args) -> dict[str, Path]:
    base = cache_dir() / "data"
    criteo = base / f"criteo-{args.rows}-{args.test_rows}-x{args.id_space}"
    behaviour = base / f"behaviour-{args.rows}-{args.test_rows}"
    if not (criteo / "meta.json").exists():
        print(f"generating {criteo}", flush=True)
        _criteo_data(criteo, args.rows, args.test_rows, args.id_space)
    if "DIN" in args.models and not (behaviour / "meta.json").exists():
        print(f"generating {behaviour}", flush=True)
        _behaviour_data(behaviour, args.rows, args.test_rows)
    return {"criteo": criteo, "behaviour": behaviour}


def run_worker(python: Path, library: str, model: str, data: Path, out: Path, log, seed: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if library == "deepctr":
        env["TF_USE_LEGACY_KERAS"] = "1"  # tensorflow.keras is tf-keras: what DeepCTR needs
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [str(python), str(Path(__file__).resolve()), "--worker", "--library", library, "--model", model,
               "--data", str(data), "--out", str(out), "--seed", str(seed)]
    subprocess.run(command, env=env, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=str(data))
    return json.loads(out.read_text())


def _score(result: dict, predictions: Path, labels) -> None:
    import numpy as np

    from ctrkit.data.metrics import log_loss, roc_auc_score

    p = np.load(predictions)
    result["auc"] = roc_auc_score(labels, p)
    result["logloss"] = log_loss(labels, p)


FIGURES = (
    ("fit_rows_per_s", "fit rows/s", "ratio"),
    ("predict_first_rows_per_s", "predict rows/s, one call", "ratio"),
    ("predict_repeat_rows_per_s", "predict rows/s, repeated", "ratio"),
    ("predict_float32_rows_per_s", "predict rows/s, float32 inputs", "ratio"),
    ("fit_rows_per_cpu_s", "fit rows per CPU second", "ratio"),
    ("predict_first_rows_per_cpu_s", "predict rows per CPU s, one call", "ratio"),
    ("auc", "test AUC", "difference"),
    ("logloss", "test log loss", "difference"),
)


def report(results: list[dict], models) -> str:
    lines = []
    for model in models:
        rounds = sorted({r["round"] for r in results if r["model"] == model})
        if not rounds:
            continue
        lines.append(f"\n{model} ({len(rounds)} round{'s' if len(rounds) > 1 else ''})")
        lines.append(f"| {'':32} | {'ctrkit':>10} | {'DeepCTR':>10} | {'ctrkit / DeepCTR':>17} |")
        lines.append(f"|{'-' * 34}|{'-' * 12}|{'-' * 12}|{'-' * 19}|")
        for key, label, kind in FIGURES:
            ours, theirs, compared = [], [], []
            for r in rounds:
                a = next(x[key] for x in results if x["model"] == model and x["round"] == r and x["library"] == "ctrkit")
                b = next(x[key] for x in results if x["model"] == model and x["round"] == r and x["library"] == "deepctr")
                ours.append(a)
                theirs.append(b)
                compared.append(a / b if kind == "ratio" else a - b)
            a, b, c = statistics.median(ours), statistics.median(theirs), statistics.median(compared)
            if kind == "ratio":
                lines.append(f"| {label:32} | {a:>10,.0f} | {b:>10,.0f} | {c:>17.2f} |")
            else:
                lines.append(f"| {label:32} | {a:>10.4f} | {b:>10.4f} | {c:>+17.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000, metavar="N", help="training rows (default: %(default)s)")
    parser.add_argument("--test-rows", type=int, default=100_000, metavar="N", help="test rows (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, metavar="N",
                        help="rounds; each runs every model with both libraries (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help=f"models to compare (default: {' '.join(MODELS)})")
    parser.add_argument("--id-space", type=int, default=1, metavar="K",
                        help="id space of the large Criteo columns, times their distinct values (default: %(default)s)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SETTINGS["seed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pythons = {"deepctr": deepctr_python(), "ctrkit": Path(sys.executable)}
    data = prepare_data(args)
    import numpy as np

    run_dir = cache_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    print(f"worker logs and raw results: {run_dir}", flush=True)
    labels = {kind: np.load(path / "test.npz")["label"] for kind, path in data.items() if (path / "meta.json").exists()}
    results = []
    with open(run_dir / "workers.log", "w") as log:
        for round_ in range(args.rounds):
            order = LIBRARIES if round_ % 2 == 0 else LIBRARIES[::-1]
            for model in args.models:
                kind = "behaviour" if model == "DIN" else "criteo"
                for library in order:
                    out = run_dir / f"{model}-{library}-{round_}.json"
                    log.write(f"\n==== round {round_} {model} {library}\n")
                    log.flush()
                    # one seed per round, the same for both libraries: a round's ratio compares like with like,
                    # and the medians span seeds (DIN's test AUC moves by 0.02-0.04 from one seed to another)
                    seed = SETTINGS["seed"] + round_
                    result = run_worker(pythons[library], library, model, data[kind], out, log, seed)
                    _score(result, out.with_suffix(".npy"), labels[kind])
                    result["round"] = round_
                    results.append(result)
                    print(
                        f"round {round_} {model:8} {library:8} fit {result['fit_rows_per_s']:>9,.0f} rows/s  "
                        f"predict {result['predict_first_rows_per_s']:>9,.0f} / {result['predict_repeat_rows_per_s']:>9,.0f} rows/s  "
                        f"auc {result['auc']:.4f}  logloss {result['logloss']:.4f}",
                        flush=True,
                    )
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    print(report(results, args.models))


if __name__ == "__main__":
    main()

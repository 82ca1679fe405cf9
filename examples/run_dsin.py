"""DSIN on DeepCTR's toy session data.

A user's behaviours are split into sessions: the columns `sess_<i>_<feature>`
hold session `i`'s items (and categories), sharing the embedding tables of
the candidate features. `sess_length` gives each row's number of non-empty
sessions; it is an extra model input, not a feature column. Ids are hashed on
the fly (`use_hash=True`) unless `--no-hash` is given.

    python examples/run_dsin.py [--no-hash] [--bias-encoding] [--data PATH | --synthetic N] [--epochs N]

Without `--data` or `--synthetic` the example trains on the manual's three
toy rows (DeepCTR ships no behaviour sample). `--synthetic N` trains on N
rows of `ctrkit.data.make_behavior_sequences`, whose clicks depend on the
history, and prints the test AUC; `--data PATH` reads such rows from a
Parquet file (`make_behavior_sequences(n).frame.to_parquet(PATH)` writes
one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ctrkit.data import make_behavior_sequences, roc_auc_score
from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models import DSIN
import keras
import numpy as np
import pandas as pd

# Synthetic behaviour data: 300 items in 10 categories, 500 users, histories of
# up to 10 items from 2 sessions.
SYNTHETIC_SHAPE = dict(maxlen=10, n_items=300, n_cates=10, n_users=500, n_sessions=2, session_maxlen=5)


def get_xy_fd(hash_flag: bool = False):
    feature_columns = [
        SparseFeat("user", 3, embedding_dim=10, use_hash=hash_flag),
        SparseFeat("gender", 2, embedding_dim=4, use_hash=hash_flag),
        SparseFeat("item", 3 + 1, embedding_dim=4, use_hash=hash_flag),
        SparseFeat("cate_id", 2 + 1, embedding_dim=4, use_hash=hash_flag),
        DenseFeat("pay_score", 1),
    ]
    for session in range(2):
        feature_columns += [
            VarLenSparseFeat(
                SparseFeat(f"sess_{session}_item", 3 + 1, embedding_dim=4, use_hash=hash_flag, embedding_name="item"),
                maxlen=4,
            ),
            VarLenSparseFeat(
                SparseFeat(
                    f"sess_{session}_cate_id", 2 + 1, embedding_dim=4, use_hash=hash_flag, embedding_name="cate_id"
                ),
                maxlen=4,
            ),
        ]

    behavior_feature_list = ["item", "cate_id"]
    uid = np.array([0, 1, 2])
    ugender = np.array([0, 1, 0])
    iid = np.array([1, 2, 3])  # 0 is the padding value
    cateid = np.array([1, 2, 2])  # 0 is the padding value
    score = np.array([0.1, 0.2, 0.3])

    sess1_iid = np.array([[1, 2, 3, 0], [3, 2, 1, 0], [0, 0, 0, 0]])
    sess1_cate_id = np.array([[1, 2, 2, 0], [2, 2, 1, 0], [0, 0, 0, 0]])
    sess2_iid = np.array([[1, 2, 3, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    sess2_cate_id = np.array([[1, 2, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    sess_number = np.array([2, 1, 0])

    feature_dict = {
        "user": uid,
        "gender": ugender,
        "item": iid,
        "cate_id": cateid,
        "sess_0_item": sess1_iid,
        "sess_0_cate_id": sess1_cate_id,
        "pay_score": score,
        "sess_1_item": sess2_iid,
        "sess_1_cate_id": sess2_cate_id,
    }
    x = {name: feature_dict[name] for name in get_feature_names(feature_columns)}
    x["sess_length"] = sess_number
    y = np.array([1, 0, 1])
    return x, y, feature_columns, behavior_feature_list


def behaviour_rows(frame: pd.DataFrame, hash_flag: bool):
    """Model input, labels, feature columns and session count for rows shaped
    like `make_behavior_sequences`' (session lists padded after the end)."""
    def size(name):
        """Room for the ids of `name` and of the lists sharing its table."""
        lists = [column for column in frame.columns if column.endswith("_" + name)]
        highest = [max(frame[column].list.flatten().tolist(), default=0) for column in lists]
        return 1 + max([int(frame[name].max())] + highest)

    sessions = sum(1 for name in frame.columns if name.startswith("sess_") and name.endswith("_item_id"))
    lists = [f"sess_{i}_{base}" for i in range(sessions) for base in ("item_id", "cate_id")]
    maxlen = max(1, max(int(frame[name].list.len().max()) for name in lists))
    feature_columns = [
        SparseFeat("user", size("user"), embedding_dim=10, use_hash=hash_flag),
        SparseFeat("gender", size("gender"), embedding_dim=4, use_hash=hash_flag),
        SparseFeat("item_id", size("item_id"), embedding_dim=4, use_hash=hash_flag),
        SparseFeat("cate_id", size("cate_id"), embedding_dim=4, use_hash=hash_flag),
        DenseFeat("pay_score", 1),
    ]
    for name in lists:
        base = "item_id" if name.endswith("item_id") else "cate_id"
        feature_columns.append(VarLenSparseFeat(
            SparseFeat(name, size(base), embedding_dim=4, use_hash=hash_flag, embedding_name=base), maxlen=maxlen))
    x = {name: frame[name].to_numpy() for name in ("user", "gender", "item_id", "cate_id", "pay_score", "sess_length")}
    for name in lists:
        x[name] = keras.utils.pad_sequences(frame[name].tolist(), maxlen=maxlen, padding="post")
    return x, frame["label"].to_numpy(), feature_columns, ["item_id", "cate_id"], sessions


def split(x: dict, y: np.ndarray, test_fraction: float):
    """(train x, train y), (test x, test y): the last `test_fraction` of the rows for testing."""
    cut = int(len(y) * (1 - test_fraction))
    return ({k: v[:cut] for k, v in x.items()}, y[:cut]), ({k: v[cut:] for k, v in x.items()}, y[cut:])


def load(args: argparse.Namespace) -> pd.DataFrame:
    if args.synthetic is not None:
        return make_behavior_sequences(args.synthetic, seed=0, **SYNTHETIC_SHAPE).frame
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: pass --data PATH, or --synthetic N for synthetic rows")
    return pd.read_parquet(args.data, dtype_backend="pyarrow")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-hash", dest="hash_flag", action="store_false", help="use the ids as given")
    parser.add_argument(
        "--bias-encoding", action="store_true", help="DSIN's bias encoding instead of position encodings"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help="a Parquet file of behaviour rows (default: the manual's three toy rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="use N rows of ctrkit.data.make_behavior_sequences (default: the manual's toy rows)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.data is None and args.synthetic is None:
        x, y, feature_columns, behavior_feature_list = get_xy_fd(args.hash_flag)
        sessions, test = 2, None
    else:
        x, y, feature_columns, behavior_feature_list, sessions = behaviour_rows(load(args), args.hash_flag)
        (x, y), test = split(x, y, 0.2)
    model = DSIN(
        feature_columns,
        behavior_feature_list,
        sess_max_count=sessions,
        bias_encoding=args.bias_encoding,
        dnn_hidden_units=[4, 4, 4],
        dnn_dropout=0.5,
    )
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    if test is None:  # the manual's toy rows
        history = model.fit(x, y, verbose=2, epochs=args.epochs, validation_split=0.5)
    else:  # stop when the validation loss stops falling, keep the best weights
        stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        history = model.fit(x, y, batch_size=256, verbose=2, epochs=args.epochs, validation_split=0.2, callbacks=[stop])

    print("DSIN final loss", round(history.history["loss"][-1], 4))
    if test is None:
        print("DSIN predictions", [round(float(p), 4) for p in model.predict(x, verbose=0).reshape(-1)])
    else:
        test_x, test_y = test
        print("DSIN test AUC", round(roc_auc_score(test_y, model.predict(test_x, batch_size=1024, verbose=0)), 4))


if __name__ == "__main__":
    main()

"""DIN (or BST) on DeepCTR's toy behaviour data.

Three users, each with a candidate item (and its category) and the items
(and categories) they interacted with before. A behaviour column is named
`hist_<feature>` and shares its embedding table with the candidate feature
(`embedding_name`); `seq_length` gives each row's number of behaviours.

    python examples/run_din.py [--model DIN|BST] [--data PATH | --synthetic N] [--epochs N]

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
from ctrkit.models import BST, DIN
import keras
import numpy as np
import pandas as pd

# Synthetic behaviour data: 300 items in 10 categories, 500 users, histories of
# up to 10 items from 2 sessions.
SYNTHETIC_SHAPE = dict(maxlen=10, n_items=300, n_cates=10, n_users=500, n_sessions=2, session_maxlen=5)


def get_xy_fd():
    feature_columns = [
        SparseFeat("user", 3, embedding_dim=10),
        SparseFeat("gender", 2, embedding_dim=4),
        SparseFeat("item_id", 3 + 1, embedding_dim=8),
        SparseFeat("cate_id", 2 + 1, embedding_dim=4),
        DenseFeat("pay_score", 1),
    ]
    feature_columns += [
        VarLenSparseFeat(
            SparseFeat("hist_item_id", vocabulary_size=3 + 1, embedding_dim=8, embedding_name="item_id"),
            maxlen=4,
            length_name="seq_length",
        ),
        VarLenSparseFeat(
            SparseFeat("hist_cate_id", 2 + 1, embedding_dim=4, embedding_name="cate_id"),
            maxlen=4,
            length_name="seq_length",
        ),
    ]
    # Notice: a behaviour sequence feature's name is "hist_" + the candidate feature's name.
    behavior_feature_list = ["item_id", "cate_id"]
    uid = np.array([0, 1, 2])
    ugender = np.array([0, 1, 0])
    iid = np.array([1, 2, 3])  # 0 is the padding value
    cate_id = np.array([1, 2, 2])  # 0 is the padding value
    pay_score = np.array([0.1, 0.2, 0.3])

    hist_iid = np.array([[1, 2, 3, 0], [3, 2, 1, 0], [1, 2, 0, 0]])
    hist_cate_id = np.array([[1, 2, 2, 0], [2, 2, 1, 0], [1, 2, 0, 0]])
    seq_length = np.array([3, 3, 2])  # the actual length of each behaviour sequence

    feature_dict = {
        "user": uid,
        "gender": ugender,
        "item_id": iid,
        "cate_id": cate_id,
        "hist_item_id": hist_iid,
        "hist_cate_id": hist_cate_id,
        "pay_score": pay_score,
        "seq_length": seq_length,
    }
    x = {name: feature_dict[name] for name in get_feature_names(feature_columns)}
    y = np.array([1, 0, 1])
    return x, y, feature_columns, behavior_feature_list


def behaviour_rows(frame: pd.DataFrame):
    """Model input, labels and feature columns for rows shaped like
    `make_behavior_sequences`' (list columns padded after the end)."""
    def size(name):
        """Room for the ids of `name` and of the lists sharing its table."""
        lists = [column for column in frame.columns if column.endswith("_" + name)]
        highest = [max(frame[column].list.flatten().tolist(), default=0) for column in lists]
        return 1 + max([int(frame[name].max())] + highest)

    maxlen = int(frame["seq_length"].max())
    feature_columns = [
        SparseFeat("user", size("user"), embedding_dim=10),
        SparseFeat("gender", size("gender"), embedding_dim=4),
        SparseFeat("item_id", size("item_id"), embedding_dim=8),
        SparseFeat("cate_id", size("cate_id"), embedding_dim=4),
        DenseFeat("pay_score", 1),
        VarLenSparseFeat(SparseFeat("hist_item_id", size("item_id"), embedding_dim=8, embedding_name="item_id"),
                         maxlen=maxlen, length_name="seq_length"),
        VarLenSparseFeat(SparseFeat("hist_cate_id", size("cate_id"), embedding_dim=4, embedding_name="cate_id"),
                         maxlen=maxlen, length_name="seq_length"),
    ]
    x = {name: frame[name].to_numpy() for name in ("user", "gender", "item_id", "cate_id", "pay_score", "seq_length")}
    for name in ("hist_item_id", "hist_cate_id"):
        x[name] = keras.utils.pad_sequences(frame[name].tolist(), maxlen=maxlen, padding="post")
    return x, frame["label"].to_numpy(), feature_columns, ["item_id", "cate_id"]


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
    parser.add_argument("--model", choices=["DIN", "BST"], default="DIN", help="(default: %(default)s)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help="a Parquet file of behaviour rows (default: the manual's three toy rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="use N rows of ctrkit.data.make_behavior_sequences (default: the manual's toy rows)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.data is None and args.synthetic is None:
        x, y, feature_columns, behavior_feature_list = get_xy_fd()
        test = None
    else:
        x, y, feature_columns, behavior_feature_list = behaviour_rows(load(args))
        (x, y), test = split(x, y, 0.2)
    if args.model == "DIN":
        model = DIN(feature_columns, behavior_feature_list)
    else:
        # The behaviour embedding is 8 + 4 = 12 wide: 4 heads of 3.
        model = BST(feature_columns, behavior_feature_list, att_head_num=4)
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    if test is None:  # the manual's toy rows
        history = model.fit(x, y, verbose=2, epochs=args.epochs, validation_split=0.5)
    else:  # stop when the validation loss stops falling, keep the best weights
        stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        history = model.fit(x, y, batch_size=256, verbose=2, epochs=args.epochs, validation_split=0.2, callbacks=[stop])

    print(f"{args.model} final loss", round(history.history["loss"][-1], 4))
    if test is None:
        print(f"{args.model} predictions", [round(float(p), 4) for p in model.predict(x, verbose=0).reshape(-1)])
    else:
        test_x, test_y = test
        print(f"{args.model} test AUC", round(roc_auc_score(test_y, model.predict(test_x, batch_size=1024, verbose=0)), 4))


if __name__ == "__main__":
    main()

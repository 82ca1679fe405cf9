"""DIEN on DeepCTR's toy behaviour data, with negative sampling.

As in `run_din.py`, plus, for DIEN's auxiliary loss, `neg_hist_<feature>`
columns: for each behaviour, an item the user did not click. The auxiliary
loss trains the interest extractor during `fit` only; predictions do not use
the sampled items.

    python examples/run_dien.py [--gru-type AUGRU] [--no-negsampling] [--epochs 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models import DIEN


def get_xy_fd(use_neg: bool = False, hash_flag: bool = False):
    feature_columns = [
        SparseFeat("user", 3, embedding_dim=10, use_hash=hash_flag),
        SparseFeat("gender", 2, embedding_dim=4, use_hash=hash_flag),
        SparseFeat("item_id", 3 + 1, embedding_dim=8, use_hash=hash_flag),
        SparseFeat("cate_id", 2 + 1, embedding_dim=4, use_hash=hash_flag),
        DenseFeat("pay_score", 1),
    ]
    feature_columns += [
        VarLenSparseFeat(
            SparseFeat("hist_item_id", 3 + 1, embedding_dim=8, embedding_name="item_id", use_hash=hash_flag),
            maxlen=4,
            length_name="seq_length",
        ),
        VarLenSparseFeat(
            SparseFeat("hist_cate_id", 2 + 1, embedding_dim=4, embedding_name="cate_id", use_hash=hash_flag),
            maxlen=4,
            length_name="seq_length",
        ),
    ]
    behavior_feature_list = ["item_id", "cate_id"]
    uid = np.array([0, 1, 2])
    ugender = np.array([0, 1, 0])
    iid = np.array([1, 2, 3])  # 0 is the padding value
    cate_id = np.array([1, 2, 2])  # 0 is the padding value
    score = np.array([0.1, 0.2, 0.3])

    hist_iid = np.array([[1, 2, 3, 0], [1, 2, 3, 0], [1, 2, 0, 0]])
    hist_cate_id = np.array([[1, 2, 2, 0], [1, 2, 2, 0], [1, 2, 0, 0]])
    behavior_length = np.array([3, 3, 2])

    feature_dict = {
        "user": uid,
        "gender": ugender,
        "item_id": iid,
        "cate_id": cate_id,
        "hist_item_id": hist_iid,
        "hist_cate_id": hist_cate_id,
        "pay_score": score,
        "seq_length": behavior_length,
    }
    if use_neg:
        feature_dict["neg_hist_item_id"] = np.array([[1, 2, 3, 0], [1, 2, 3, 0], [1, 2, 0, 0]])
        feature_dict["neg_hist_cate_id"] = np.array([[1, 2, 2, 0], [1, 2, 2, 0], [1, 2, 0, 0]])
        feature_columns += [
            VarLenSparseFeat(
                SparseFeat("neg_hist_item_id", 3 + 1, embedding_dim=8, embedding_name="item_id", use_hash=hash_flag),
                maxlen=4,
                length_name="seq_length",
            ),
            VarLenSparseFeat(
                SparseFeat("neg_hist_cate_id", 2 + 1, embedding_dim=4, embedding_name="cate_id", use_hash=hash_flag),
                maxlen=4,
                length_name="seq_length",
            ),
        ]
    x = {name: feature_dict[name] for name in get_feature_names(feature_columns)}
    y = np.array([1, 0, 1])
    return x, y, feature_columns, behavior_feature_list


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gru-type", choices=["GRU", "AIGRU", "AGRU", "AUGRU"], default="AUGRU")
    parser.add_argument("--no-negsampling", dest="use_neg", action="store_false",
                        help="train without the auxiliary loss and its sampled items")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    x, y, feature_columns, behavior_feature_list = get_xy_fd(use_neg=args.use_neg)
    model = DIEN(
        feature_columns,
        behavior_feature_list,
        dnn_hidden_units=[4, 4, 4],
        dnn_dropout=0.6,
        gru_type=args.gru_type,
        use_negsampling=args.use_neg,
    )
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    history = model.fit(x, y, verbose=1, epochs=args.epochs, validation_split=0.5)

    # With negative sampling the training loss includes the auxiliary loss;
    # binary_crossentropy is the click loss alone.
    print("DIEN final loss", round(history.history["loss"][-1], 4))
    print("DIEN final binary_crossentropy", round(history.history["binary_crossentropy"][-1], 4))
    print("DIEN predictions", [round(float(p), 4) for p in model.predict(x, verbose=0).reshape(-1)])


if __name__ == "__main__":
    main()

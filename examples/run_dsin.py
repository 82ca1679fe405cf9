"""DSIN on DeepCTR's toy session data.

A user's behaviours are split into sessions: the columns `sess_<i>_<feature>`
hold session `i`'s items (and categories), sharing the embedding tables of
the candidate features. `sess_length` gives each row's number of non-empty
sessions; it is an extra model input, not a feature column. Ids are hashed on
the fly (`use_hash=True`) unless `--no-hash` is given.

    python examples/run_dsin.py [--no-hash] [--bias-encoding] [--epochs 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models import DSIN


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-hash", dest="hash_flag", action="store_false", help="use the ids as given")
    parser.add_argument(
        "--bias-encoding", action="store_true", help="DSIN's bias encoding instead of position encodings"
    )
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    x, y, feature_columns, behavior_feature_list = get_xy_fd(args.hash_flag)
    model = DSIN(
        feature_columns,
        behavior_feature_list,
        sess_max_count=2,
        bias_encoding=args.bias_encoding,
        dnn_hidden_units=[4, 4, 4],
        dnn_dropout=0.5,
    )
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    history = model.fit(x, y, verbose=1, epochs=args.epochs, validation_split=0.5)

    print("DSIN final loss", round(history.history["loss"][-1], 4))
    print("DSIN predictions", [round(float(p), 4) for p in model.predict(x, verbose=0).reshape(-1)])


if __name__ == "__main__":
    main()

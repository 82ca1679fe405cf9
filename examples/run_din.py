"""DIN (or BST) on DeepCTR's toy behaviour data.

Three users, each with a candidate item (and its category) and the items
(and categories) they interacted with before. A behaviour column is named
`hist_<feature>` and shares its embedding table with the candidate feature
(`embedding_name`); `seq_length` gives each row's number of behaviours.

    python examples/run_din.py [--model DIN|BST] [--epochs 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models import BST, DIN


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["DIN", "BST"], default="DIN")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    x, y, feature_columns, behavior_feature_list = get_xy_fd()
    if args.model == "DIN":
        model = DIN(feature_columns, behavior_feature_list)
    else:
        # The behaviour embedding is 8 + 4 = 12 wide: 4 heads of 3.
        model = BST(feature_columns, behavior_feature_list, att_head_num=4)
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    history = model.fit(x, y, verbose=1, epochs=args.epochs, validation_split=0.5)

    print(f"{args.model} final loss", round(history.history["loss"][-1], 4))
    print(f"{args.model} predictions", [round(float(p), 4) for p in model.predict(x, verbose=0).reshape(-1)])


if __name__ == "__main__":
    main()

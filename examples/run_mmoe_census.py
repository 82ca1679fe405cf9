"""Multi-task learning with MMOE on census-income.

Two tasks are learnt from the UCI census-income data (1994 US census):

* label_income: does the income exceed $50K?
* label_marital: has the person never married?

    python examples/run_mmoe_census.py [--data PATH | --synthetic N] [--epochs N]

Reads DeepCTR's `census-income.sample` from `$CTRKIT_SAMPLE_DATA` or
`../shared/data` (beside the repository) when it is there, `--data PATH`
names another file, and `--synthetic N` uses N rows of the same format from
`ctrkit.data.make_census`; without a sample file it says so and uses 5,000
synthetic rows.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ctrkit.data import make_census, roc_auc_score, sample_or_synthetic, train_valid_split
from ctrkit.feature_column import DenseFeat, SparseFeat, get_feature_names
from ctrkit.models import ESMM, MMOE, PLE, SharedBottom
import numpy as np
import pandas as pd

SAMPLE = "census-income.sample"
SYNTHETIC_ROWS = 5_000

COLUMN_NAMES = [
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour", "hs_college",
    "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses", "stock_dividends",
    "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat", "det_hh_summ",
    "instance_weight", "mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt",
    "num_emp", "fam_under_18", "country_father", "country_mother", "country_self", "citizenship",
    "own_or_self", "vet_question", "vet_benefits", "weeks_worked", "year", "income_50k",
]
SPARSE_FEATURES = [
    "class_worker", "det_ind_code", "det_occ_code", "education", "hs_college", "major_ind_code",
    "major_occ_code", "race", "hisp_origin", "sex", "union_member", "unemp_reason", "full_or_part_emp",
    "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat", "det_hh_summ", "mig_chg_msa",
    "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt", "fam_under_18", "country_father",
    "country_mother", "country_self", "citizenship", "vet_question",
]
TASKS = ["label_income", "label_marital"]


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows: `--synthetic N`, `--data PATH`, DeepCTR's sample, or synthetic rows without it."""
    # The sample's first column is the row id; with one name fewer than fields, pandas makes it the index.
    return sample_or_synthetic(SAMPLE, args.data, args.synthetic,
                               lambda path: pd.read_csv(path, header=None, names=COLUMN_NAMES),
                               lambda n: make_census(n, seed=args.seed).frame.copy(), SYNTHETIC_ROWS)


def add_labels(data: pd.DataFrame) -> pd.DataFrame:
    data["label_income"] = data["income_50k"].str.strip().map({"- 50000.": 0, "50000+.": 1})
    data["label_marital"] = (data["marital_stat"].str.strip() == "Never married").astype(int)
    if data["label_income"].isna().any():
        raise ValueError("income_50k holds values other than ' - 50000.' and ' 50000+.'")
    return data.drop(columns=["income_50k", "marital_stat"])


def encode(data: pd.DataFrame, sparse_features: list[str], dense_features: list[str]) -> pd.DataFrame:
    """Integer ids for the categoricals (sorted values, as a label encoder
    gives) and min-max scaled numbers."""
    data[sparse_features] = data[sparse_features].fillna("-1")
    data[dense_features] = data[dense_features].fillna(0)
    for feat in sparse_features:
        _, ids = np.unique(data[feat].astype(str).to_numpy(), return_inverse=True)
        data[feat] = ids.astype("int32")
    for feat in dense_features:
        values = data[feat].astype("float64")
        span = values.max() - values.min()
        data[feat] = ((values - values.min()) / span if span > 0 else values * 0.0).astype("float32")
    return data


def auc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    """The AUC, or NaN when the rows hold one class only (possible on a small sample)."""
    if labels.min() == labels.max():
        return math.nan
    return roc_auc_score(labels, scores)


MULTITASK_MODELS = {
    "MMOE": lambda columns, **tasks: MMOE(columns, tower_dnn_hidden_units=[], **tasks),
    "PLE": lambda columns, **tasks: PLE(columns, **tasks),
    "SharedBottom": lambda columns, **tasks: SharedBottom(columns, **tasks),
    "ESMM": lambda columns, **tasks: ESMM(columns, **tasks),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help=f"a file like {SAMPLE} (default: DeepCTR's {SAMPLE} when found, else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"use N synthetic census-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of the synthetic rows and the split (default: %(default)s)")
    parser.add_argument("--model", choices=sorted(MULTITASK_MODELS), default="MMOE",
                        help="the multi-task model (ESMM's second task is read as click-and-conversion; default: %(default)s)")
    args = parser.parse_args(argv)

    data = add_labels(load(args))
    sparse_features = SPARSE_FEATURES
    dense_features = [col for col in data.columns if col not in sparse_features and col not in TASKS]
    data = encode(data, sparse_features, dense_features)

    fixlen_feature_columns = [SparseFeat(feat, data[feat].max() + 1, embedding_dim=4) for feat in sparse_features] + [
        DenseFeat(feat, 1) for feat in dense_features
    ]
    dnn_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(dnn_feature_columns)

    train, test = train_valid_split(data, valid_fraction=0.2, seed=args.seed)
    train_model_input = {name: train[name].to_numpy() for name in feature_names}
    test_model_input = {name: test[name].to_numpy() for name in feature_names}

    model = MULTITASK_MODELS[args.model](dnn_feature_columns, task_types=["binary", "binary"], task_names=TASKS)
    # Keras 3 wants one metrics list per output of a multi-output model.
    model.compile(
        "adam",
        loss=["binary_crossentropy", "binary_crossentropy"],
        metrics=[["binary_crossentropy"], ["binary_crossentropy"]],
    )
    # Labels as (n, 1) columns, the shape of each output, as Keras' metrics expect.
    train_labels = [train[task].to_numpy().reshape(-1, 1) for task in TASKS]
    model.fit(
        train_model_input,
        train_labels,
        batch_size=256,
        epochs=args.epochs,
        verbose=2,
        validation_split=0.2,
    )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)

    print("test income AUC", round(auc_or_nan(test["label_income"].to_numpy(), pred_ans[0]), 4))
    print("test marital AUC", round(auc_or_nan(test["label_marital"].to_numpy(), pred_ans[1]), 4))


if __name__ == "__main__":
    main()

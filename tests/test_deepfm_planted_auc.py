"""How close the demo DeepFM gets to the planted model on 200k synthetic Criteo rows."""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import hstack
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from ctrkit.data import CRITEO_DENSE_FEATURES, CRITEO_SPARSE_FEATURES, make_criteo, roc_auc_score, train_valid_split
from ctrkit.training import TrainingSpec, train_from_spec

DEMO_SPEC = Path(__file__).resolve().parents[1] / "models" / "criteo_deepfm" / "spec.yaml"
ROWS = 200_000


def _linear_baseline_auc(spec: TrainingSpec) -> float:
    """Logistic regression on one-hot values (seen 20+ times) and log counts,
    on the demo's training and validation rows: what a model without
    interactions reaches."""
    data = make_criteo(ROWS, seed=int(spec.data.get("seed", 0)))
    train, valid = train_valid_split(data.frame, float(spec.data.get("valid_fraction", 0.2)), seed=int(spec.data.get("seed", 0)))
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20)

    def features(frame: pd.DataFrame, fit: bool):
        categories = frame[list(CRITEO_SPARSE_FEATURES)].astype(object).fillna("missing")
        onehot = encoder.fit_transform(categories) if fit else encoder.transform(categories)
        counts = np.log1p(frame[list(CRITEO_DENSE_FEATURES)].fillna(0).to_numpy(dtype=float))
        counts = np.hstack([counts, frame[list(CRITEO_DENSE_FEATURES)].isna().to_numpy(dtype=float)])
        return hstack([onehot, counts]).tocsr()

    model = LogisticRegression(C=0.1, max_iter=1000).fit(features(train, True), train["label"])
    return roc_auc_score(valid["label"].to_numpy(), model.predict_proba(features(valid, False))[:, 1])


def test_demo_deepfm_reaches_the_planted_auc(capsys):
    spec = TrainingSpec.load(DEMO_SPEC)
    result = train_from_spec(spec, rows=ROWS, export=False, verbose=0)
    auc, planted = result.validation["auc"], result.planted_auc
    linear = _linear_baseline_auc(spec)
    with capsys.disabled():
        print(
            f"\nDeepFM validation AUC {auc:.4f}, planted model {planted:.4f}, gap {planted - auc:.4f}; "
            f"logistic regression {linear:.4f}"
        )
    assert planted - auc < 0.01
    # The planted interactions are worth learning: a linear model stays far behind.
    assert planted - linear > 0.02

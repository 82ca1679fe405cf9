"""DIN reads the behaviour history: on data whose clicks depend on it, DIN
beats a DeepFM given the same candidate and user features but no history."""

from __future__ import annotations

import keras
import numpy as np

from ctrkit.data import make_behavior_sequences, roc_auc_score, train_valid_split
from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models.deepfm import DeepFM
from ctrkit.models.sequence import DIN

N_ROWS, MAXLEN, N_ITEMS, N_CATES, N_USERS = 16_000, 10, 300, 10, 500


def _validation_auc(model, columns, train, valid) -> float:
    names = get_feature_names(columns)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    model.fit(train.model_input(names), train.labels, batch_size=256, epochs=6, verbose=0)
    scores = model.predict(valid.model_input(names), batch_size=2048, verbose=0).reshape(-1)
    return roc_auc_score(valid.labels, scores)


def test_din_beats_history_blind_deepfm():
    data = make_behavior_sequences(
        N_ROWS, seed=0, maxlen=MAXLEN, n_items=N_ITEMS, n_cates=N_CATES, n_users=N_USERS, n_sessions=2, session_maxlen=5
    )
    train, valid = train_valid_split(data, 0.25, seed=0)
    context = [
        SparseFeat("user", N_USERS, 4),
        SparseFeat("gender", 2, 4),
        SparseFeat("item_id", N_ITEMS + 1, 4),
        SparseFeat("cate_id", N_CATES + 1, 4),
        DenseFeat("pay_score", 1),
    ]
    history = [
        VarLenSparseFeat(SparseFeat(f"hist_{name}", size, 4, embedding_name=name), MAXLEN, length_name="seq_length")
        for name, size in (("item_id", N_ITEMS + 1), ("cate_id", N_CATES + 1))
    ]

    keras.utils.set_random_seed(0)
    din = DIN(context + history, ["item_id", "cate_id"], dnn_hidden_units=(32, 16), att_hidden_size=(16, 8))
    din_auc = _validation_auc(din, context + history, train, valid)
    keras.utils.set_random_seed(0)
    blind = DeepFM(context, context, dnn_hidden_units=(32, 16))
    blind_auc = _validation_auc(blind, context, train, valid)
    # The planted model's own score without its history part: what ignoring
    # the history can reach at best.
    context_auc = roc_auc_score(valid.labels, valid.extras["context_logit"])

    print(
        f"validation AUC: DIN {din_auc:.4f}, history-blind DeepFM {blind_auc:.4f} "
        f"(planted: full {valid.planted_auc:.4f}, context only {context_auc:.4f})"
    )
    assert np.isfinite([din_auc, blind_auc]).all()
    assert din_auc > blind_auc + 0.05
    assert din_auc > context_auc + 0.03

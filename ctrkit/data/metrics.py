"""Exact binary classification metrics in numpy (no scikit-learn needed)."""

from __future__ import annotations

import numpy as np


def _binary_inputs(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but y_score has {s.size}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must contain only 0 and 1")
    if not np.all(np.isfinite(s)):
        raise ValueError("y_score must be finite (no NaN or infinity)")
    return y.astype(bool), s


def roc_auc_score(y_true, y_score) -> float:
    """Area under the ROC curve, computed exactly from ranks.

    Tied scores share their average rank, which counts a tied
    positive/negative pair as one half (the same value scikit-learn gives).

    Arguments:
        y_true: binary labels (0/1), any shape; flattened.
        y_score: scores of the same size; higher means more likely positive.

    Returns:
        The AUC in [0, 1].

    Example:
        >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    y, s = _binary_inputs(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc_score needs both positive and negative labels")
    order = np.argsort(s, kind="stable")
    sorted_scores = s[order]
    first_of_group = np.empty(s.size, dtype=bool)
    first_of_group[0] = True
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=first_of_group[1:])
    starts = np.flatnonzero(first_of_group)
    ends = np.append(starts[1:], s.size)
    # 1-based ranks start+1 .. end share their mean.
    mean_rank = (starts + ends + 1) / 2.0
    ranks = mean_rank[np.cumsum(first_of_group) - 1]
    positive_rank_sum = ranks[y[order]].sum()
    return float((positive_rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y_true, y_prob, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy of probabilities `y_prob` against 0/1 labels.

    Probabilities are clipped to `[eps, 1 - eps]`.

    Example:
        >>> round(log_loss([0, 1], [0.2, 0.9]), 4)
        0.1643
    """
    y, p = _binary_inputs(y_true, y_prob)
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))

"""The container every synthetic generator returns, and a train/validation split."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .metrics import log_loss, roc_auc_score


@dataclass(frozen=True, eq=False)
class SyntheticDataset:
    """Rows drawn from a planted model, with the model's true probabilities.

    Attributes:
        frame: the rows, with the column names and value formats of the
            matching DeepCTR sample file (sequence columns hold one list of
            ids per row, unpadded).
        probability: the planted model's true probability of the positive
            class, shape `(n,)`, or `(n, n_tasks)` for multi-task data.
        labels: the binary labels drawn from `probability`, same shape.
        target: the frame's label column(s), as DeepCTR's examples name them.
        sparse_features, dense_features, sequence_features: the frame columns
            a model takes as input, by kind.
        length_features: integer columns giving sequence lengths
            (`seq_length`, `sess_length`), for models that take them.
        sequences: padded 2-D int32 arrays (0 is padding, ids start at 1) of
            the sequence columns, ready for `VarLenSparseFeat` inputs.
        extras: further planted quantities (e.g. `expected_rating`).

    `planted_auc` and `planted_logloss` score `probability` against `labels`:
    no model can beat them in expectation on the same rows.
    """

    frame: pd.DataFrame
    probability: np.ndarray
    labels: np.ndarray
    target: tuple[str, ...]
    sparse_features: tuple[str, ...] = ()
    dense_features: tuple[str, ...] = ()
    sequence_features: tuple[str, ...] = ()
    length_features: tuple[str, ...] = ()
    sequences: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"SyntheticDataset(rows={len(self)}, target={self.target}, "
            f"positive_rate={np.round(self.labels.mean(axis=0), 4).tolist()})"
        )

    def _per_task(self, metric):
        if self.probability.ndim == 1:
            return metric(self.labels, self.probability)
        return {
            name: metric(self.labels[:, i], self.probability[:, i])
            for i, name in enumerate(self.target)
        }

    @property
    def planted_auc(self) -> float | dict[str, float]:
        """AUC of the true probability against the drawn labels (a dict per task
        for multi-task data): the best AUC a model can expect on these rows."""
        return self._per_task(roc_auc_score)

    @property
    def planted_logloss(self) -> float | dict[str, float]:
        """Log loss of the true probability against the drawn labels."""
        return self._per_task(log_loss)

    def subset(self, rows) -> SyntheticDataset:
        """The dataset restricted to the given row positions (an index array or a boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return replace(
            self,
            frame=self.frame.iloc[rows],
            probability=self.probability[rows],
            labels=self.labels[rows],
            sequences={k: v[rows] for k, v in self.sequences.items()},
            extras={k: v[rows] for k, v in self.extras.items()},
        )

    def model_input(self, features=None) -> dict[str, np.ndarray]:
        """`{feature name: numpy array}` for `model.fit`: frame columns as 1-D
        arrays, sequence columns as padded 2-D arrays. `features` defaults to
        all sparse, dense, sequence and length features."""
        if features is None:
            features = (
                self.sparse_features + self.dense_features + self.sequence_features + self.length_features
            )
        out = {}
        for name in features:
            if name in self.sequences:
                out[name] = self.sequences[name]
            elif name in self.frame.columns:
                out[name] = self.frame[name].to_numpy()
            else:
                raise ValueError(f"unknown feature {name!r}")
        return out


def train_valid_split(data, valid_fraction: float = 0.2, seed: int = 0):
    """Split rows at random into a training and a validation part.

    Arguments:
        data: a `pandas.DataFrame` or a `SyntheticDataset`.
        valid_fraction: share of the rows in the validation part, in (0, 1).
        seed: seed of the shuffle; the same seed gives the same split.

    Returns:
        `(train, valid)`, of the same type as `data`, each keeping the
        original row order and index.

    Example:
        >>> from ctrkit.data import make_criteo
        >>> train, valid = train_valid_split(make_criteo(1000), 0.2, seed=1)
        >>> len(train), len(valid)
        (800, 200)
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    n = len(data)
    n_valid = int(round(n * valid_fraction))
    if n_valid == 0 or n_valid == n:
        raise ValueError(
            f"valid_fraction={valid_fraction} leaves an empty part of {n} rows"
        )
    in_valid = np.zeros(n, dtype=bool)
    in_valid[np.random.default_rng(seed).permutation(n)[:n_valid]] = True
    if isinstance(data, SyntheticDataset):
        return data.subset(~in_valid), data.subset(in_valid)
    if isinstance(data, pd.DataFrame):
        return data.iloc[~in_valid], data.iloc[in_valid]
    raise ValueError(f"data must be a DataFrame or a SyntheticDataset, got {type(data).__name__}")

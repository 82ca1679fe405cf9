"""Criteo-like display-ads rows drawn from a planted click model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ._common import (
    calibrate_intercept,
    check_rows,
    draw_head_tail,
    hex_tokens,
    model_rng,
    sigmoid,
    string_column,
)
from .dataset import SyntheticDataset

CRITEO_SPARSE_FEATURES = tuple(f"C{i}" for i in range(1, 27))
CRITEO_DENSE_FEATURES = tuple(f"I{i}" for i in range(1, 14))
CRITEO_COLUMNS = ("label",) + CRITEO_DENSE_FEATURES + CRITEO_SPARSE_FEATURES

# Distinct values per categorical column: the public Criteo day's, capped at 100k.
_CARDINALITY = dict(
    zip(
        CRITEO_SPARSE_FEATURES,
        (1_400, 550, 100_000, 60_000, 300, 24, 12_000, 630, 3, 40_000, 5_600, 90_000, 3_200,
         27, 15_000, 70_000, 10, 5_600, 2_200, 4, 80_000, 18, 15, 50_000, 105, 35_000),
    )
)
# Columns that go missing together, and how often (as in the sample file).
_SPARSE_MISSING = (
    (("C3", "C4", "C12", "C16", "C21", "C24"), 0.03),
    (("C19", "C20", "C25", "C26"), 0.44),
    (("C6",), 0.12),
    (("C22",), 0.76),
)
_DENSE_MISSING = (
    (("I1", "I10"), 0.45),
    (("I3", "I4", "I13"), 0.17),
    (("I5",), 0.03),
    (("I6",), 0.24),
    (("I7", "I9", "I11"), 0.05),
    (("I8",), 0.002),
    (("I12",), 0.77),
)
# Counts are floor(exp(mu + sigma * z)) - 1, clipped at 0: a discretised log-normal.
_DENSE_LOGNORMAL = {
    "I1": (0.92, 1.0), "I2": (1.5, 1.6), "I3": (2.0, 1.5), "I4": (1.87, 0.9),
    "I5": (7.6, 1.7), "I6": (3.7, 1.5), "I7": (1.5, 1.3), "I8": (2.1, 0.9),
    "I9": (3.8, 1.2), "I10": (0.27, 0.5), "I11": (0.92, 0.9), "I12": (0.02, 1.0),
    "I13": (1.87, 1.0),
}
# Planted effects: (number of most frequent values with an effect, effect scale).
_MAIN_EFFECTS = {
    "C2": (30, 0.4), "C5": (30, 0.4), "C6": (24, 0.4), "C8": (30, 0.4), "C9": (3, 0.4),
    "C14": (27, 0.4), "C17": (10, 0.4), "C20": (4, 0.3), "C22": (18, 0.3), "C23": (15, 0.4),
    "C25": (30, 0.4),
}
# Value frequencies: a Zipf head of at most _HEAD values, each seen hundreds of
# times in 200k rows, then a uniform tail whose values are seen about
# _TAIL_REPEATS times each in 200k rows (at most _MAX_TAIL of the rows).
_HEAD = int(__import__("os").environ.get("HEAD", "100"))
_TAIL_REPEATS = 0.8
_MAX_TAIL = float(__import__("os").environ.get("MT", "0.3"))
_INTERACTION_RANK = 1
_INTERACTIONS = (
    (("C6", "C14"), 20, 0.7),
    (("C9", "C23"), 15, 0.7),
    (("C17", "C20"), 10, 0.7),
    (("C5", "C8"), 20, 0.7),
)
# Effects on log(1 + count); a missing count acts as a zero count.
_COUNT_EFFECTS = {"I1": 0.3, "I3": -0.12, "I7": 0.15, "I11": 0.2, "I13": -0.1}
_CALIBRATION_ROWS = 1 << 15


@dataclass
class _CriteoModel:
    tokens: dict[str, np.ndarray]
    main: dict[str, np.ndarray]
    pairs: list[tuple[str, str, np.ndarray, np.ndarray]]
    counts: dict[str, float]
    intercept: float = 0.0

    def draw(self, rng: np.random.Generator, n: int):
        codes = {}
        for name in CRITEO_SPARSE_FEATURES:
            size = _CARDINALITY[name]
            tail = min(_MAX_TAIL, _TAIL_REPEATS * max(size - _HEAD, 0) / 200_000)
            ex = float(__import__("os").environ.get("NE","1.1")) if name not in _MAIN_EFFECTS else float(__import__("os").environ.get("SE","1.1"))
            codes[name] = draw_head_tail(rng, size, n, _HEAD, tail, ex if size > _HEAD else 1.0)
        for names, rate in _SPARSE_MISSING:
            missing = rng.random(n) < rate
            for name in names:
                codes[name][missing] = -1
        activity = rng.standard_normal(n)
        counts = {}
        for name in CRITEO_DENSE_FEATURES:
            mu, sigma = _DENSE_LOGNORMAL[name]
            z = 0.6 * activity + 0.8 * rng.standard_normal(n)
            counts[name] = np.maximum(np.floor(np.exp(mu + sigma * z)) - 1.0, 0.0)
        for names, rate in _DENSE_MISSING:
            missing = rng.random(n) < rate
            for name in names:
                counts[name][missing] = np.nan
        return codes, counts

    def logit(self, codes, counts) -> np.ndarray:
        # Effect arrays have one row per value plus a last row for "missing",
        # which code -1 indexes.
        z = np.full(len(next(iter(codes.values()))), self.intercept)
        for name, effect in self.main.items():
            z += effect[codes[name]]
        for a, b, va, vb in self.pairs:
            z += np.einsum("ij,ij->i", va[codes[a]], vb[codes[b]])
        for name, weight in self.counts.items():
            z += weight * np.log1p(np.nan_to_num(counts[name], nan=0.0))
        return z


@lru_cache(maxsize=8)
def _criteo_model(model_seed: int, base_ctr: float, signal_strength: float) -> _CriteoModel:
    rng = model_rng(model_seed, "criteo")
    tokens = {name: hex_tokens(_CARDINALITY[name], rng) for name in CRITEO_SPARSE_FEATURES}
    main = {}
    import os
    spec = dict(_MAIN_EFFECTS)
    if os.environ.get("ALLCOLS"):
        spec = {c: (8, float(os.environ.get("AS", "0.3"))) for c in CRITEO_SPARSE_FEATURES}
        spec.update({k: (v[0], float(os.environ.get("LS", "0.4"))) for k, v in _MAIN_EFFECTS.items() if _CARDINALITY[k] <= 30})
    for name, (top, scale) in spec.items():
        effect = np.zeros(_CARDINALITY[name] + 1)
        top = min(top, int(__import__("os").environ.get("TOPK", "1000")))
        scale = scale * float(__import__("os").environ.get("MS", "1"))
        effect[:top] = rng.normal(0.0, scale * signal_strength, top)
        effect[-1] = rng.normal(0.0, scale * signal_strength)
        main[name] = effect
    pairs = []
    for (a, b), top, scale in _INTERACTIONS:
        factors = []
        for name in (a, b):
            size = _CARDINALITY[name]
            v = np.zeros((size + 1, _INTERACTION_RANK))
            k = min(top, size, int(__import__("os").environ.get("ITOP", "1000")))
            v[:k] = rng.normal(0.0, scale * np.sqrt(signal_strength), (k, _INTERACTION_RANK))
            factors.append(v)
        pairs.append((a, b, factors[0], factors[1]))
    model = _CriteoModel(
        tokens, main, pairs, {k: w * signal_strength for k, w in _COUNT_EFFECTS.items()}
    )
    calibration = model.logit(*model.draw(model_rng(model_seed, "criteo-calibration"), _CALIBRATION_ROWS))
    model.intercept = calibrate_intercept(calibration, base_ctr)
    return model


def make_criteo(
    n_rows: int,
    seed: int = 0,
    *,
    model_seed: int = 0,
    base_ctr: float = 0.25,
    signal_strength: float = 1.0,
) -> SyntheticDataset:
    """Criteo-like rows (`label, I1..I13, C1..C26`) with a planted click model.

    Formats follow `criteo_sample.txt`: `label` int64; `I1..I13` non-negative
    heavy-tailed integer counts as float64 with NaN for missing (`I2` is never
    missing and is int64); `C1..C26` 8-hex-digit strings with Zipf-like
    frequencies, between 3 and 100,000 distinct values per column, NaN for
    missing, columns going missing together as in the real data.

    The planted model's logit adds per-value effects of the frequent values of
    13 categorical columns, rank-3 factorised interactions between 6 pairs of
    categorical columns (learnable by FM-type models, not by a linear one),
    effects of `log(1 + count)` for 5 count columns (a missing count acts as
    0), and an intercept calibrated to `base_ctr`. With the defaults the
    planted AUC is about 0.78 and the click rate about 0.25.

    Arguments:
        n_rows: number of rows.
        seed: seed of the rows; the same seed gives the same frame.
        model_seed: seed of the planted model (token strings and effects).
            Datasets with the same `model_seed` and different `seed` are
            independent draws from the same model (train/test files).
        base_ctr: mean click probability, in (0, 1).
        signal_strength: multiplies every planted effect (larger means a
            higher planted AUC).

    Returns:
        A `SyntheticDataset` with `target == ("label",)`.

    Example:
        >>> ds = make_criteo(10_000, seed=1)
        >>> list(ds.frame.columns[:3]), round(float(ds.labels.mean()), 1)
        (['label', 'I1', 'I2'], 0.2)
    """
    n = check_rows(n_rows)
    if signal_strength < 0:
        raise ValueError(f"signal_strength must be >= 0, got {signal_strength!r}")
    model = _criteo_model(int(model_seed), float(base_ctr), float(signal_strength))
    rng = np.random.default_rng(seed)
    codes, counts = model.draw(rng, n)
    probability = sigmoid(model.logit(codes, counts))
    labels = (rng.random(n) < probability).astype(np.int64)
    columns = {"label": labels}
    for name in CRITEO_DENSE_FEATURES:
        columns[name] = counts[name].astype(np.int64) if name == "I2" else counts[name]
    for name in CRITEO_SPARSE_FEATURES:
        columns[name] = string_column(codes[name], model.tokens[name])
    return SyntheticDataset(
        frame=pd.DataFrame(columns),
        probability=probability,
        labels=labels,
        target=("label",),
        sparse_features=CRITEO_SPARSE_FEATURES,
        dense_features=CRITEO_DENSE_FEATURES,
    )

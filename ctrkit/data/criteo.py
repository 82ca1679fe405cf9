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
    top_effects,
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
# Value frequencies: a Zipf head of the _HEAD most frequent values (steeper
# for the large vocabularies), each seen hundreds of times in 200k rows, then a
# uniform tail of rare values, each seen about _TAIL_REPEATS times in
# _REFERENCE_ROWS rows, taking at most _MAX_TAIL of the rows.
_REFERENCE_ROWS = 200_000
_HEAD = 100
_TAIL_REPEATS = 0.5
_MAX_TAIL = 0.05
# Planted per-value effects on the _TOP_VALUES most frequent values (and on
# "missing") of every categorical column; larger on the small vocabularies.
_TOP_VALUES = 8
_EFFECT_SCALE = 0.24
_SMALL_VOCABULARY_EFFECT_SCALE = 0.32
# Rank-1 interactions between the most frequent values of disjoint pairs:
# an FM represents each in one embedding dimension, a linear model not at all.
# The pairs join small vocabularies, so each cell of a pair is seen hundreds
# of times in 200k rows: pairs of larger vocabularies spread the same signal
# over cells too thin for any model that is not told the pair to learn it.
_INTERACTIONS = (("C9", "C23"), ("C17", "C20"), ("C6", "C22"))
_INTERACTION_TOP_VALUES = 10
_INTERACTION_SCALE = 0.63
# Effects on log(1 + count); a missing count acts as a zero count.
_COUNT_EFFECTS = {"I1": 0.24, "I3": -0.1, "I7": 0.12, "I11": 0.16, "I13": -0.08}
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
            tail = min(_MAX_TAIL, _TAIL_REPEATS * max(size - _HEAD, 0) / _REFERENCE_ROWS)
            exponent = 1.5 if size > 1000 else 1.1
            codes[name] = draw_head_tail(rng, size, n, _HEAD, tail, exponent)
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
        for a, b, factor_a, factor_b in self.pairs:
            z += factor_a[codes[a]] * factor_b[codes[b]]
        for name, weight in self.counts.items():
            z += weight * np.log1p(np.nan_to_num(counts[name], nan=0.0))
        return z


@lru_cache(maxsize=8)
def _criteo_model(model_seed: int, base_ctr: float, signal_strength: float) -> _CriteoModel:
    rng = model_rng(model_seed, "criteo")
    tokens = {name: hex_tokens(_CARDINALITY[name], rng) for name in CRITEO_SPARSE_FEATURES}
    main = {}
    for name in CRITEO_SPARSE_FEATURES:
        size = _CARDINALITY[name]
        scale = _SMALL_VOCABULARY_EFFECT_SCALE if size <= 30 else _EFFECT_SCALE
        main[name] = top_effects(rng, size, _TOP_VALUES, scale * signal_strength)
    pairs = []
    for pair in _INTERACTIONS:
        factors = []
        for name in pair:
            # One factor per value; 0 for the rarer values and for "missing".
            factor = np.zeros(_CARDINALITY[name] + 1)
            k = min(_INTERACTION_TOP_VALUES, _CARDINALITY[name])
            factor[:k] = rng.normal(0.0, _INTERACTION_SCALE * np.sqrt(signal_strength), k)
            factors.append(factor)
        pairs.append((pair[0], pair[1], factors[0], factors[1]))
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
    frequencies over vocabularies of 3 to 100,000 values per column (a head
    of frequent values and a long tail of values seen about once: 200k rows
    hold up to ~10k distinct values of a column), NaN for missing, columns
    going missing together as in the real data.

    The planted model's logit adds per-value effects of the 8 most frequent
    values (and of "missing") of every categorical column, rank-1 interactions
    between the frequent values of 3 pairs of categorical columns (C9 x C23,
    C17 x C20, C6 x C22: learnable by FM-type models, not by a linear one),
    effects of `log(1 + count)` for 5 count columns (a missing count acts as
    0), and an intercept calibrated to `base_ctr`. Rare values
    have no effect, so what there is to learn is seen often. With the
    defaults the planted AUC is about 0.78 and the click rate about 0.25.

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
        >>> list(ds.frame.columns[:3]), ds.frame.shape
        (['label', 'I1', 'I2'], (10000, 40))
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

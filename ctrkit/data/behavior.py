"""User behaviour sequences (DIN, DIEN, DSIN, BST style) with a history-driven click model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ._common import calibrate_intercept, check_rows, list_column, model_rng, sigmoid
from .dataset import SyntheticDataset

_CALIBRATION_ROWS = 1 << 14
# How a user splits attention: first favourite category, second, anything.
_PREFERENCE_SHARES = (0.6, 0.25, 0.15)
_ON_TOPIC = 0.85  # share of a session's items from the session's category


@dataclass
class _BehaviorModel:
    n_items: int
    n_cates: int
    cate_of_item: np.ndarray  # index 0 (padding) maps to 0
    items_by_cate: np.ndarray
    cate_start: np.ndarray
    cate_size: np.ndarray
    user_gender: np.ndarray
    user_pay_score: np.ndarray
    user_favourites: np.ndarray
    item_effect: np.ndarray
    cate_by_gender: np.ndarray
    strength: float
    intercept: float = 0.0

    def popular_item(self, rng: np.random.Generator, cates: np.ndarray) -> np.ndarray:
        """An item of each given category, popular ones (low rank) more often."""
        rank = np.floor(self.cate_size[cates] * rng.random(cates.shape) ** 2.0).astype(np.int64)
        return self.items_by_cate[self.cate_start[cates] + rank]

    def favourite_cate(self, rng: np.random.Generator, users: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Categories drawn by the users' tastes, `shape[0] == users.size`."""
        u = rng.random(shape)
        fav = self.user_favourites[users]
        if len(shape) > 1:
            fav = fav.reshape(fav.shape[:1] + (1,) * (len(shape) - 1) + fav.shape[1:])
        random_cate = rng.integers(1, self.n_cates + 1, shape)
        return np.where(
            u < _PREFERENCE_SHARES[0], fav[..., 0],
            np.where(u < _PREFERENCE_SHARES[0] + _PREFERENCE_SHARES[1], fav[..., 1], random_cate),
        )

    def draw(
        self, rng: np.random.Generator, n: int, n_users: int, maxlen: int, n_sessions: int, session_maxlen: int
    ) -> dict[str, np.ndarray]:
        users = rng.integers(0, n_users, n)
        # Sessions, oldest first: each keeps to one category, mostly a favourite.
        n_sess = rng.integers(1, n_sessions + 1, n)
        sess_len = rng.integers(1, session_maxlen + 1, (n, n_sessions))
        sess_len[np.arange(n_sessions)[None, :] >= n_sess[:, None]] = 0
        sess_cate = self.favourite_cate(rng, users, (n, n_sessions))
        # The items of all sessions, row by row, oldest first (row-major order
        # of the (row, session, position) slots that are filled).
        slot_cate = np.repeat(sess_cate.ravel(), sess_len.ravel())
        items = np.where(
            rng.random(slot_cate.size) < _ON_TOPIC,
            self.popular_item(rng, slot_cate),
            rng.integers(1, self.n_items + 1, slot_cate.size),
        ).astype(np.int32)
        in_session = np.arange(session_maxlen)[None, None, :] < sess_len[:, :, None]
        sess_items = np.zeros((n, n_sessions, session_maxlen), dtype=np.int32)
        sess_items[in_session] = items

        # The history: the most recent `maxlen` of a row's session items.
        total = sess_len.sum(axis=1)
        seq_length = np.minimum(total, maxlen)
        row_end = np.cumsum(total)
        positions = (row_end - seq_length)[:, None] + np.arange(maxlen)[None, :]
        in_history = np.arange(maxlen)[None, :] < seq_length[:, None]
        hist = np.where(in_history, items[np.minimum(positions, items.size - 1)], 0)

        # DIEN's negative samples: a random other item at each real position.
        neg = rng.integers(1, self.n_items + 1, hist.shape, dtype=np.int32)
        neg = np.where(neg == hist, neg % self.n_items + 1, neg)
        neg = np.where(hist > 0, neg, 0)

        # The candidate: half the time from a favourite category.
        from_favourite = rng.random(n) < 0.5
        cand_cate = np.where(
            from_favourite,
            np.where(rng.random(n) < 0.7, self.user_favourites[users, 0], self.user_favourites[users, 1]),
            rng.integers(1, self.n_cates + 1, n),
        )
        return {
            "users": users,
            "item": self.popular_item(rng, cand_cate),
            "cate": cand_cate,
            "hist": hist,
            "seq_length": seq_length,
            "neg": neg,
            "sess_items": sess_items,
            "sess_length": n_sess,
        }

    def logits(self, rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(history part, rest) of the planted logit, intercept excluded."""
        hist, cand_cate = rows["hist"], rows["cate"]
        same_cate = ((self.cate_of_item[hist] == cand_cate[:, None]) & (hist > 0)).sum(axis=1)
        seen = (hist == rows["item"][:, None]).any(axis=1)
        history = self.strength * (1.3 * np.log1p(same_cate) + 0.8 * seen)
        users = rows["users"]
        rest = self.strength * (
            self.item_effect[rows["item"]]
            + self.cate_by_gender[cand_cate, self.user_gender[users]]
            + 1.2 * (self.user_pay_score[users] - 0.5)
        )
        return history, rest


@lru_cache(maxsize=8)
def _behavior_model(
    model_seed: int, n_items: int, n_cates: int, n_users: int, maxlen: int, n_sessions: int,
    session_maxlen: int, base_ctr: float, strength: float,
) -> _BehaviorModel:
    rng = model_rng(model_seed, "behavior")
    cate_of_item = np.concatenate([[0], 1 + rng.permutation(np.arange(n_items) % n_cates)]).astype(np.int32)
    items_by_cate = 1 + np.argsort(cate_of_item[1:], kind="stable")
    cate_size = np.bincount(cate_of_item[1:], minlength=n_cates + 1)
    cate_start = np.concatenate([[0], np.cumsum(cate_size)[:-1]])
    # Two distinct favourite categories per user.
    first = rng.integers(1, n_cates + 1, n_users)
    second = (first - 1 + rng.integers(1, n_cates, n_users)) % n_cates + 1
    item_effect = np.zeros(n_items + 1)
    # The three most popular items of each category have effects.
    top = np.arange(3)[None, :]
    popular = items_by_cate[(cate_start[1:, None] + top)[top < cate_size[1:, None]]]
    item_effect[popular] = rng.normal(0.0, 0.5, popular.size)
    model = _BehaviorModel(
        n_items=n_items,
        n_cates=n_cates,
        cate_of_item=cate_of_item,
        items_by_cate=items_by_cate,
        cate_start=cate_start,
        cate_size=cate_size,
        user_gender=rng.integers(0, 2, n_users),
        user_pay_score=rng.random(n_users),
        user_favourites=np.stack([first, second], axis=1),
        item_effect=item_effect,
        cate_by_gender=rng.normal(0.0, 0.4, (n_cates + 1, 2)),
        strength=strength,
    )
    calibration = model.draw(
        model_rng(model_seed, "behavior-calibration"), _CALIBRATION_ROWS, n_users, maxlen, n_sessions, session_maxlen
    )
    model.intercept = calibrate_intercept(sum(model.logits(calibration)), base_ctr)
    return model


def make_behavior_sequences(
    n_rows: int,
    seed: int = 0,
    maxlen: int = 20,
    n_items: int = 1000,
    n_cates: int = 20,
    *,
    n_users: int = 2000,
    n_sessions: int = 5,
    session_maxlen: int = 10,
    model_seed: int = 0,
    base_ctr: float = 0.3,
    signal_strength: float = 1.0,
) -> SyntheticDataset:
    """Rows for DIN, DIEN, DSIN and BST: a user, a candidate item and the
    user's past behaviour.

    Columns (the names of DeepCTR's sequence-model examples):
    `label`; `user` (0..n_users-1), `gender` (0/1), `item_id` (1..n_items),
    `cate_id` (1..n_cates), `pay_score` (float in [0, 1)); `hist_item_id`,
    `hist_cate_id` (the behaviour history, oldest first, 1 to `maxlen`
    items) with `seq_length`; DIEN's negative samples `neg_hist_item_id`,
    `neg_hist_cate_id` (a random other item at each history position); DSIN's
    sessions `sess_0_item_id`, `sess_0_cate_id`, ..., `sess_{k}_...` for
    `k < n_sessions` (each 0 to `session_maxlen` items; sessions
    `>= sess_length` are empty) with `sess_length`. List columns hold the
    unpadded lists; `sequences` holds them padded (0 = padding; item and
    category ids start at 1) as int32 arrays, `(n, maxlen)` for the history
    and `(n, session_maxlen)` for sessions.

    Every item belongs to one category. A user has two favourite categories;
    each session keeps to one category (mostly a favourite) and the history
    is the sessions' items, most recent `maxlen` kept. Half of the
    candidates come from a favourite category.

    The planted click model is driven by the history:
    `1.3 * log(1 + #history items in the candidate's category)
    + 0.8 * [candidate already in the history]`, plus smaller effects of
    popular items, category by gender and `pay_score`, and an intercept for
    `base_ctr`. The two parts are in `extras["history_logit"]` and
    `extras["context_logit"]`: a model that ignores the history cannot
    reach much beyond the AUC of the second.

    Arguments:
        n_rows: number of rows.
        seed: seed of the rows.
        maxlen: longest history kept.
        n_items, n_cates: catalogue size and number of categories
            (`n_items >= n_cates >= 2`).
        n_users: number of users.
        n_sessions: DSIN's `sess_max_count`; session_maxlen: items per session at most.
        model_seed, base_ctr, signal_strength: as `make_criteo`.

    Returns:
        A `SyntheticDataset` with `target == ("label",)`.
    """
    n = check_rows(n_rows)
    for name, value, least in (
        ("maxlen", maxlen, 1), ("n_cates", n_cates, 2), ("n_users", n_users, 1),
        ("n_sessions", n_sessions, 1), ("session_maxlen", session_maxlen, 1),
    ):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if n_items < n_cates:
        raise ValueError(f"n_items must be >= n_cates, got n_items={n_items}, n_cates={n_cates}")
    if signal_strength < 0:
        raise ValueError(f"signal_strength must be >= 0, got {signal_strength!r}")
    shape = (int(maxlen), int(n_sessions), int(session_maxlen))
    model = _behavior_model(
        int(model_seed), int(n_items), int(n_cates), int(n_users), *shape, float(base_ctr), float(signal_strength)
    )
    rng = np.random.default_rng(seed)
    rows = model.draw(rng, n, int(n_users), *shape)
    history, context = model.logits(rows)
    probability = sigmoid(model.intercept + history + context)
    labels = (rng.random(n) < probability).astype(np.int64)

    cate = model.cate_of_item
    users = rows["users"]
    sequences = {
        "hist_item_id": rows["hist"],
        "hist_cate_id": cate[rows["hist"]],
        "neg_hist_item_id": rows["neg"],
        "neg_hist_cate_id": cate[rows["neg"]],
    }
    lengths = {name: rows["seq_length"] for name in sequences}
    for k in range(int(n_sessions)):
        items = rows["sess_items"][:, k, :]
        sequences[f"sess_{k}_item_id"] = items
        sequences[f"sess_{k}_cate_id"] = cate[items]
        lengths[f"sess_{k}_item_id"] = lengths[f"sess_{k}_cate_id"] = (items > 0).sum(axis=1)

    columns = {
        "label": labels,
        "user": users,
        "gender": model.user_gender[users],
        "item_id": rows["item"],
        "cate_id": rows["cate"],
        "pay_score": model.user_pay_score[users],
    }
    for name in ("hist_item_id", "hist_cate_id"):
        columns[name] = list_column(sequences[name], lengths[name])
    columns["seq_length"] = rows["seq_length"]
    for name in sequences:
        if name not in columns:
            columns[name] = list_column(sequences[name], lengths[name])
    columns["sess_length"] = rows["sess_length"]
    frame = pd.DataFrame({k: (v.astype(np.int64) if isinstance(v, np.ndarray) and v.dtype.kind == "i" else v) for k, v in columns.items()})
    return SyntheticDataset(
        frame=frame,
        probability=probability,
        labels=labels,
        target=("label",),
        sparse_features=("user", "gender", "item_id", "cate_id"),
        dense_features=("pay_score",),
        sequence_features=tuple(sequences),
        length_features=("seq_length", "sess_length"),
        sequences=sequences,
        extras={"history_logit": history, "context_logit": context},
    )

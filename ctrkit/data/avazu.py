"""Avazu-like mobile-ads rows drawn from a planted click model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ._common import (
    calibrate_intercept,
    check_rows,
    distinct_integers,
    draw_categorical,
    draw_head_tail,
    hex_tokens,
    model_rng,
    sigmoid,
    string_column,
    top_effects,
)
from .dataset import SyntheticDataset

AVAZU_COLUMNS = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category",
    "app_id", "app_domain", "app_category", "device_id", "device_ip", "device_model",
    "device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)
AVAZU_SPARSE_FEATURES = (
    "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id",
    "app_domain", "app_category", "device_id", "device_ip", "device_model", "device_type",
    "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)

# Placeholder tokens of the real logs: app traffic has the same site fields,
# site traffic the same app fields, and most rows the same device id.
_NO_SITE = (b"85f751fd", b"c4e18dd6", b"50e219e0")
_NO_APP = (b"ecad2386", b"7801e8d9", b"07d7df22")
_ANONYMOUS_DEVICE = b"a99f214a"

_C1_VALUES = np.array([1005, 1002, 1010, 1012, 1007, 1001, 1008])
_C1_PROBABILITIES = (0.918, 0.055, 0.022, 0.0028, 0.0009, 0.0002, 0.0001)
_BANNER_POS = np.array([0, 1, 7, 2, 4, 5, 3])
_BANNER_PROBABILITIES = (0.72, 0.278, 0.0011, 0.0003, 0.0002, 0.0001, 0.00005)
_CONN_TYPES = np.array([0, 2, 3, 5])
_CONN_PROBABILITIES = (0.863, 0.083, 0.05, 0.004)
# (width, height) of the ad, C15 and C16.
_SIZES = np.array([[320, 50], [300, 250], [216, 36], [728, 90], [300, 50], [120, 20], [480, 320], [1024, 768]])
_SIZE_PROBABILITIES = (0.93, 0.045, 0.01, 0.006, 0.004, 0.002, 0.002, 0.001)
# Traffic by hour of day (00..23): a night trough and a day plateau.
_HOUR_WEIGHTS = 0.6 + 0.4 * np.sin(np.pi * (np.arange(24) - 4) / 24) ** 2

_N_SITES, _N_SITE_DOMAINS, _N_SITE_CATEGORIES = 4_000, 3_000, 20
_N_APPS, _N_APP_DOMAINS, _N_APP_CATEGORIES = 5_000, 300, 25
_N_DEVICES, _N_IPS, _N_MODELS = 150_000, 300_000, 6_000
_N_CREATIVES, _N_GROUPS = 2_600, 430
_APP_TRAFFIC = 0.36
_CALIBRATION_ROWS = 1 << 15


@dataclass
class _AvazuModel:
    tokens: dict[str, np.ndarray]
    site_domain: np.ndarray
    site_category: np.ndarray
    app_domain: np.ndarray
    app_category: np.ndarray
    creative_value: np.ndarray
    creative_size: np.ndarray
    creative_group: np.ndarray
    group_value: np.ndarray
    group_c18: np.ndarray
    group_c19: np.ndarray
    group_c20: np.ndarray
    group_c21: np.ndarray
    effects: dict[str, np.ndarray]
    intercept: float = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """Integer codes of every column (indices into the model's tables)."""
        rows = {}
        rows["day"] = rng.integers(0, 10, n)
        rows["hh"] = draw_categorical(rng, _HOUR_WEIGHTS, n)
        rows["c1"] = draw_categorical(rng, _C1_PROBABILITIES, n)
        c1 = _C1_VALUES[rows["c1"]]
        device_type = np.ones(n, dtype=np.int64)
        device_type[c1 == 1002] = 0
        device_type[c1 == 1010] = np.where(rng.random(int((c1 == 1010).sum())) < 0.8, 4, 5)
        device_type[c1 == 1008] = 2
        rows["device_type"] = device_type
        rows["banner"] = draw_categorical(rng, _BANNER_PROBABILITIES, n)
        rows["conn"] = draw_categorical(rng, _CONN_PROBABILITIES, n)
        is_app = rng.random(n) < _APP_TRAFFIC
        rows["is_app"] = is_app
        rows["site"] = np.where(is_app, -1, draw_head_tail(rng, _N_SITES, n, 100, 0.03))
        rows["app"] = np.where(is_app, draw_head_tail(rng, _N_APPS, n, 100, 0.03), -1)
        anonymous = rng.random(n) < 0.82
        rows["device_id"] = np.where(anonymous, -1, draw_head_tail(rng, _N_DEVICES, n, 100, 0.6))
        rows["device_ip"] = draw_head_tail(rng, _N_IPS, n, 100, 0.7)
        rows["device_model"] = draw_head_tail(rng, _N_MODELS, n, 100, 0.03)
        rows["creative"] = draw_head_tail(rng, _N_CREATIVES, n, 100, 0.02)
        return rows

    def logit(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        e = self.effects
        site, app = rows["site"], rows["app"]
        site_cat = np.where(site >= 0, self.site_category[site], _N_SITE_CATEGORIES)
        app_cat = np.where(app >= 0, self.app_category[app], _N_APP_CATEGORIES)
        group = self.creative_group[rows["creative"]]
        daypart = rows["hh"] // 6
        z = self.intercept + e["site"][site] + e["app"][app]
        z += e["site_category"][site_cat] + e["app_category"][app_cat]
        z += e["group"][group] + e["creative"][rows["creative"]]
        z += e["banner"][rows["banner"]] + e["device_type"][rows["device_type"]]
        z += e["conn"][rows["conn"]] + e["device_model"][rows["device_model"]]
        z += 0.25 * np.sin(2 * np.pi * (rows["hh"] - 6) / 24)
        z += e["site_category_x_daypart"][site_cat, daypart]
        z += e["app_category_x_conn"][app_cat, rows["conn"]]
        z += e["size_x_banner"][self.creative_size[rows["creative"]], np.minimum(rows["banner"], 2)]
        return z

    def frame(self, rows: dict[str, np.ndarray], rng: np.random.Generator, labels) -> pd.DataFrame:
        n = labels.size
        site, app, creative = rows["site"], rows["app"], rows["creative"]
        group = self.creative_group[creative]
        t = self.tokens

        def with_placeholder(codes, table, placeholder):
            # code -1 means "the placeholder token", appended as the last entry.
            return string_column(np.where(codes >= 0, codes, table.size), np.append(table, placeholder))

        size = _SIZES[self.creative_size[creative]]
        columns = {
            "id": rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True),
            "click": labels,
            "hour": 14102100 + 100 * rows["day"] + rows["hh"],
            "C1": _C1_VALUES[rows["c1"]],
            "banner_pos": _BANNER_POS[rows["banner"]],
            "site_id": with_placeholder(site, t["site_id"], _NO_SITE[0]),
            "site_domain": with_placeholder(
                np.where(site >= 0, self.site_domain[site], -1), t["site_domain"], _NO_SITE[1]
            ),
            "site_category": with_placeholder(
                np.where(site >= 0, self.site_category[site], -1), t["site_category"], _NO_SITE[2]
            ),
            "app_id": with_placeholder(app, t["app_id"], _NO_APP[0]),
            "app_domain": with_placeholder(
                np.where(app >= 0, self.app_domain[app], -1), t["app_domain"], _NO_APP[1]
            ),
            "app_category": with_placeholder(
                np.where(app >= 0, self.app_category[app], -1), t["app_category"], _NO_APP[2]
            ),
            "device_id": with_placeholder(rows["device_id"], t["device_id"], _ANONYMOUS_DEVICE),
            "device_ip": string_column(rows["device_ip"], t["device_ip"]),
            "device_model": string_column(rows["device_model"], t["device_model"]),
            "device_type": rows["device_type"],
            "device_conn_type": _CONN_TYPES[rows["conn"]],
            "C14": self.creative_value[creative],
            "C15": size[:, 0],
            "C16": size[:, 1],
            "C17": self.group_value[group],
            "C18": self.group_c18[group],
            "C19": self.group_c19[group],
            "C20": self.group_c20[group],
            "C21": self.group_c21[group],
        }
        return pd.DataFrame(columns)


@lru_cache(maxsize=8)
def _avazu_model(model_seed: int, base_ctr: float, signal_strength: float) -> _AvazuModel:
    rng = model_rng(model_seed, "avazu")
    tokens = {
        "site_id": hex_tokens(_N_SITES, rng),
        "site_domain": hex_tokens(_N_SITE_DOMAINS, rng),
        "site_category": hex_tokens(_N_SITE_CATEGORIES, rng),
        "app_id": hex_tokens(_N_APPS, rng),
        "app_domain": hex_tokens(_N_APP_DOMAINS, rng),
        "app_category": hex_tokens(_N_APP_CATEGORIES, rng),
        "device_id": hex_tokens(_N_DEVICES, rng),
        "device_ip": hex_tokens(_N_IPS, rng),
        "device_model": hex_tokens(_N_MODELS, rng),
    }
    s = signal_strength
    group_c20 = np.where(
        rng.random(_N_GROUPS) < 0.47, -1, distinct_integers(rng, _N_GROUPS, 100_000, 100_260 + _N_GROUPS)
    )
    model = _AvazuModel(
        tokens=tokens,
        site_domain=draw_head_tail(rng, _N_SITE_DOMAINS, _N_SITES, 50, 0.5),
        site_category=draw_head_tail(rng, _N_SITE_CATEGORIES, _N_SITES, _N_SITE_CATEGORIES, 0.0),
        app_domain=draw_head_tail(rng, _N_APP_DOMAINS, _N_APPS, 30, 0.3),
        app_category=draw_head_tail(rng, _N_APP_CATEGORIES, _N_APPS, _N_APP_CATEGORIES, 0.0),
        creative_value=distinct_integers(rng, _N_CREATIVES, 375, 24_100),
        creative_size=draw_categorical(rng, _SIZE_PROBABILITIES, _N_CREATIVES),
        creative_group=draw_head_tail(rng, _N_GROUPS, _N_CREATIVES, 60, 0.4),
        group_value=distinct_integers(rng, _N_GROUPS, 112, 2_760),
        group_c18=draw_categorical(rng, (0.42, 0.04, 0.2, 0.34), _N_GROUPS),
        group_c19=rng.choice(np.array([35, 39, 161, 167, 297, 303, 423, 427, 547, 681, 1063, 1327, 1835]), _N_GROUPS),
        group_c20=group_c20,
        group_c21=rng.choice(np.array([13, 16, 23, 32, 33, 42, 48, 51, 52, 61, 68, 70, 79, 82, 100, 117, 157, 159, 171, 195, 212, 221, 229, 246, 253]), _N_GROUPS),
        effects={
            "site": top_effects(rng, _N_SITES, 40, 0.5 * s),
            "app": top_effects(rng, _N_APPS, 40, 0.6 * s),
            "site_category": top_effects(rng, _N_SITE_CATEGORIES, 20, 0.4 * s),
            "app_category": top_effects(rng, _N_APP_CATEGORIES, 25, 0.4 * s),
            "group": top_effects(rng, _N_GROUPS, 40, 0.5 * s),
            "creative": top_effects(rng, _N_CREATIVES, 40, 0.3 * s),
            "banner": top_effects(rng, _BANNER_POS.size, 7, 0.3 * s),
            "device_type": top_effects(rng, 6, 6, 0.3 * s),
            "conn": top_effects(rng, _CONN_TYPES.size, 4, 0.3 * s),
            "device_model": top_effects(rng, _N_MODELS, 40, 0.25 * s),
            "site_category_x_daypart": rng.normal(0.0, 0.3 * s, (_N_SITE_CATEGORIES + 1, 4)),
            "app_category_x_conn": rng.normal(0.0, 0.3 * s, (_N_APP_CATEGORIES + 1, _CONN_TYPES.size)),
            "size_x_banner": rng.normal(0.0, 0.3 * s, (_SIZES.shape[0], 3)),
        },
    )
    calibration = model.logit(model.draw(model_rng(model_seed, "avazu-calibration"), _CALIBRATION_ROWS))
    model.intercept = calibrate_intercept(calibration, base_ctr)
    return model


def make_avazu(
    n_rows: int,
    seed: int = 0,
    *,
    model_seed: int = 0,
    base_ctr: float = 0.17,
    signal_strength: float = 1.0,
) -> SyntheticDataset:
    """Avazu-like rows with the columns and formats of `avazu_sample.txt`.

    `id` uint64; `click` the 0/1 label; `hour` as `YYMMDDHH` over ten days
    (14102100..14103023); `C1`, `banner_pos`, `device_type`,
    `device_conn_type`, `C14`..`C21` integers; site, app and device fields
    8-hex-digit strings. The structure of the real logs is kept: a row is
    site traffic (app fields hold the "no app" tokens) or app traffic (site
    fields hold the "no site" tokens); a site determines its domain and
    category, an app its domain and category; the creative `C14` determines
    its size (`C15`, `C16`) and group `C17`, which determines `C18`..`C21`;
    most rows have the anonymous `device_id`.

    The planted click model adds effects of frequent sites, apps, creative
    groups, categories, banner position, device and connection type, a daily
    rhythm, and interactions (site category by time of day, app category by
    connection type, ad size by banner position). The click rate is about
    `base_ctr`; the planted AUC is about 0.75 with the defaults.

    Arguments:
        n_rows, seed, model_seed, base_ctr, signal_strength: as `make_criteo`.

    Returns:
        A `SyntheticDataset` with `target == ("click",)`.
    """
    n = check_rows(n_rows)
    if signal_strength < 0:
        raise ValueError(f"signal_strength must be >= 0, got {signal_strength!r}")
    model = _avazu_model(int(model_seed), float(base_ctr), float(signal_strength))
    rng = np.random.default_rng(seed)
    rows = model.draw(rng, n)
    probability = sigmoid(model.logit(rows))
    labels = (rng.random(n) < probability).astype(np.int64)
    return SyntheticDataset(
        frame=model.frame(rows, rng, labels),
        probability=probability,
        labels=labels,
        target=("click",),
        sparse_features=AVAZU_SPARSE_FEATURES,
    )

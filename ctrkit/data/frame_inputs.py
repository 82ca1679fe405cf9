"""NumPy model inputs from the raw columns of a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..feature_column import DenseFeat, SparseFeat


def model_input(frame: pd.DataFrame, columns: Sequence, separators: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """NumPy inputs for `fit`/`predict` from raw frame columns: missing
    categoricals become "" (strings) or 0 (ids), missing counts 0, multi-value
    strings are split and padded to `maxlen`."""
    separators = separators or {}
    out: dict[str, np.ndarray] = {}
    for fc in columns:
        if fc.name in out:
            continue
        values = frame[fc.name]
        if isinstance(fc, DenseFeat):
            out[fc.name] = values.fillna(0).to_numpy(dtype="float32")
        elif isinstance(fc, SparseFeat):
            if fc.dtype == "string":
                out[fc.name] = values.fillna("").astype(str).to_numpy(dtype=object)
            else:
                out[fc.name] = values.fillna(0).to_numpy(dtype=fc.dtype)
        else:
            pad = "" if fc.dtype == "string" else 0
            rows = values.fillna("").astype(str).str.split(separators.get(fc.name, "|"))
            rows = [[v for v in row if v][: fc.maxlen] for row in rows]
            if fc.dtype != "string":
                rows = [[int(v) for v in row] for row in rows]
            padded = [row + [pad] * (fc.maxlen - len(row)) for row in rows]
            out[fc.name] = np.array(padded, dtype=object if fc.dtype == "string" else fc.dtype)
    return out

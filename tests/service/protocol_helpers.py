"""Rows as the binary protocols' clients send them: one typed array per feature, built from metadata."""

from __future__ import annotations

from typing import Any

import numpy as np

NUMPY = {"BYTES": object, "INT32": np.int32, "INT64": np.int64, "FP32": np.float32, "FP64": np.float64}


def tensor_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with no zero id at the end of a list: a padded list ends where its last non-zero value is."""
    fixed = []
    for row in rows:
        row = dict(row)
        for name in ("hist", "tags"):
            if name in row:
                row[name] = [v or 1 for v in row[name]]
        fixed.append(row)
    return fixed


def arrays_from_metadata(rows: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One array per input the rows give, typed and shaped as the model metadata describes it."""
    arrays = {}
    for meta in inputs:
        name, datatype, shape = meta["name"], meta["datatype"], [int(d) for d in meta["shape"]]
        if name not in rows[0]:
            continue
        values = [row[name] for row in rows]
        if datatype == "BYTES":
            values = [[v.encode() for v in x] if isinstance(x, list) else x.encode() for x in values]
        if len(shape) == 2 and shape[1] > 0 and isinstance(values[0], list) and len(values[0]) <= shape[1]:
            pad = b"" if datatype == "BYTES" else 0
            values = [list(v) + [pad] * (shape[1] - len(v)) for v in values]
        arrays[name] = np.array(values, dtype=NUMPY[datatype])
    return arrays

"""Building blocks shared by the synthetic data generators."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

try:
    import pyarrow as pa
except ImportError:  # pragma: no cover - pyarrow is a declared dependency
    pa = None

# The dtype `pd.read_csv` gives a text column: `str` on pandas 3, `object` before.
STRING_DTYPE = pd.Series(["x"]).dtype
_ARROW_STRINGS = pa is not None and getattr(STRING_DTYPE, "storage", None) == "pyarrow"

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def model_rng(model_seed: int, name: str) -> np.random.Generator:
    """The random stream of a planted model: independent of the row stream."""
    return np.random.default_rng([int(model_seed), zlib.crc32(name.encode())])


def check_rows(n_rows: int) -> int:
    if isinstance(n_rows, bool) or int(n_rows) != n_rows or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    return int(n_rows)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def calibrate_intercept(logit: np.ndarray, target_mean: float) -> float:
    """The constant `b` with `mean(sigmoid(logit + b)) == target_mean`."""
    if not 0.0 < target_mean < 1.0:
        raise ValueError(f"the base rate must be in (0, 1), got {target_mean!r}")
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if sigmoid(logit + mid).mean() < target_mean:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def draw_zipf(
    rng: np.random.Generator, size: int, n: int, exponent: float = 1.1, offset: float = 2.0
) -> np.ndarray:
    """`n` ranks in `0..size-1` with frequencies falling like `(rank + offset) ** -exponent`.

    Inverts the CDF of the continuous power law on `[offset, size + offset)` and
    floors: O(1) per draw, whatever `size` is.
    """
    u = rng.random(n)
    if abs(exponent - 1.0) < 1e-9:
        x = offset * ((size + offset) / offset) ** u
    else:
        power = 1.0 - exponent
        low, high = offset**power, (size + offset) ** power
        x = (low + u * (high - low)) ** (1.0 / power)
    return np.clip(np.floor(x - offset), 0, size - 1).astype(np.int64)


def draw_from_cdf(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    codes = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(codes, cdf.size - 1).astype(np.int64)


def draw_head_tail(
    rng: np.random.Generator,
    size: int,
    n: int,
    head: int,
    tail_mass: float,
    exponent: float = 1.1,
) -> np.ndarray:
    """`n` codes in `0..size-1`: a Zipf "head" of the `head` most frequent
    values, and with probability `tail_mass` a uniform draw from the rare rest.

    This is the shape of real ad logs: a few values carry most rows, and a
    long tail of values is seen about once. Values in between (seen a handful
    of times, whose effects no model can estimate) stay rare.
    """
    head = min(head, size)
    codes = draw_zipf(rng, head, n, exponent)
    if head < size and tail_mass > 0:
        in_tail = rng.random(n) < tail_mass
        codes[in_tail] = head + rng.integers(0, size - head, int(in_tail.sum()))
    return codes


def top_effects(rng: np.random.Generator, size: int, top: int, scale: float) -> np.ndarray:
    """Planted per-value effects: normal(0, scale) for the `top` most frequent
    codes, 0 for the rest, plus a last entry (indexed by code -1) for "missing"."""
    effect = np.zeros(size + 1)
    k = min(top, size)
    effect[:k] = rng.normal(0.0, scale, k)
    effect[-1] = rng.normal(0.0, scale)
    return effect


def categorical_cdf(probabilities: Sequence[float]) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    cdf = np.cumsum(p)
    return cdf / cdf[-1]


def hex_tokens(size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` distinct 8-hex-digit tokens (bytes, dtype S8), Criteo style.

    An odd multiplier makes `code -> (a * code + b) mod 2**32` a bijection,
    so the tokens are distinct without rejection sampling.
    """
    a = np.uint64(2 * int(rng.integers(1 << 20, 1 << 31)) + 1)
    b = np.uint64(int(rng.integers(0, 1 << 32)))
    codes = np.arange(size, dtype=np.uint64)
    values = (codes * a + b) & np.uint64(0xFFFFFFFF)
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    digits = (values[:, None] >> shifts) & np.uint64(0xF)
    return np.ascontiguousarray(_HEX_DIGITS[digits]).view("S8").ravel()


def string_column(codes: np.ndarray, vocabulary: np.ndarray) -> pd.Series:
    """Strings `vocabulary[codes]` as a pandas text column; code -1 is missing (NaN).

    `vocabulary` is an array of bytes (fixed width `S*`) or of Python strings.
    The column has the dtype `pd.read_csv` gives text, so generated frames and
    frames read from files compare equal.
    """
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    safe_codes = np.where(missing, 0, codes)
    if _ARROW_STRINGS and vocabulary.dtype.kind == "S":
        # Fixed-width tokens: lay out the Arrow buffers directly (no per-row work).
        n, width = codes.size, vocabulary.dtype.itemsize
        offsets = np.arange(0, width * n + 1, width, dtype=np.int64)
        validity = np.packbits(~missing, bitorder="little")
        arrow = pa.Array.from_buffers(
            pa.large_string(),
            n,
            [pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(vocabulary[safe_codes].tobytes())],
            null_count=int(missing.sum()),
        )
        return pd.Series(pd.array(arrow, dtype=STRING_DTYPE))
    if _ARROW_STRINGS:
        dictionary = pa.array(list(vocabulary), type=pa.string())
        indices = pa.array(safe_codes.astype(np.int32), mask=missing)
        arrow = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())
        return pd.Series(pd.array(arrow, dtype=STRING_DTYPE))
    if vocabulary.dtype.kind == "S":
        vocabulary = np.array([v.decode() for v in vocabulary], dtype=object)
    values = np.asarray(vocabulary, dtype=object)[safe_codes]
    values[missing] = np.nan
    return pd.Series(values, dtype=STRING_DTYPE)


def list_column(padded: np.ndarray, lengths: np.ndarray) -> pd.Series:
    """Variable-length integer lists (row i is `padded[i, :lengths[i]]`) as a
    pandas column: Arrow `list<int32>` when pyarrow is there (cells read as
    Python lists), else an object column of numpy arrays."""
    padded = np.asarray(padded, dtype=np.int32)
    lengths = np.asarray(lengths, dtype=np.int64)
    valid = np.arange(padded.shape[1])[None, :] < lengths[:, None]
    offsets = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = padded[valid]
    if pa is not None:
        arrow = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
        return pd.Series(pd.arrays.ArrowExtensionArray(arrow))
    cells = np.empty(lengths.size, dtype=object)
    cells[:] = np.split(flat, offsets[1:-1])
    return pd.Series(cells)


def draw_categorical(rng: np.random.Generator, probabilities: Sequence[float], n: int) -> np.ndarray:
    """`n` codes drawn with the given (unnormalised) probabilities."""
    return draw_from_cdf(rng, categorical_cdf(probabilities), n)


def distinct_integers(rng: np.random.Generator, size: int, low: int, high: int) -> np.ndarray:
    """`size` distinct integers from `[low, high)`, in random order."""
    return rng.choice(np.arange(low, high, dtype=np.int64), size=size, replace=False)

"""From typed tensors (one per feature, by name) to the packed matrices a model version takes.

The binary protocols (the Open Inference Protocol over REST and gRPC,
TensorFlow Serving's gRPC API) send each feature as a typed tensor: strings as
``BYTES``/``DT_STRING``, ids as integers, dense values as floats, one row per
request row; a list feature is ``[n, maxlen]`` (shorter rows padded with ``""``
or ``0``), a dense vector ``[n, dimension]``. A protocol module turns its wire
form into :class:`Tensor` objects (numbers as numpy arrays over the received
bytes, no copy), and :class:`TensorDecoder` checks them with vectorised numpy
operations and writes them straight into the version's packed matrices
(:class:`ctrkit.export.PackedLayout`), one copy per value.

The rules are those of ``POST /predict`` and the errors say the same sentences
(:mod:`service.messages`), naming the feature and the row: an unknown or
missing feature, a tensor of the wrong type or shape, an id outside its range,
NaN or infinity, a string that is not UTF-8, a list longer than ``maxlen``, a
length or weights that disagree with their list. A feature with a default may
be left out; a length input is derived from its list when left out (the row's
values up to its last non-padding one).

>>> import numpy as np
>>> from ctrkit.export import PackedLayout
>>> from service.features import parse_features
>>> spec = {"features": [
...     {"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 100, "use_hash": True},
...     {"name": "user_id", "kind": "sparse", "dtype": "int32", "vocabulary_size": 120},
...     {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1, "default": 0.0}]}
>>> decoder = TensorDecoder(parse_features(spec), PackedLayout.from_entries(spec["features"]), max_rows=64)
>>> decoded = decoder.decode([
...     Tensor("C1", "BYTES", (2,), np.array([b"a", b"b"], dtype=object)),
...     Tensor("user_id", "INT64", (2,), np.array([3, 7])),
...     Tensor("I1", "FP32", (2,), np.array([0.5, 1.5], dtype=np.float32))])
>>> decoded.rows, decoded.packed["ints"].tolist()
(2, [[3], [7]])
>>> decoder.decode([Tensor("C1", "BYTES", (1,), np.array([b"a"], dtype=object)),
...                 Tensor("user_id", "INT64", (1,), np.array([500]))])
Traceback (most recent call last):
...
service.errors.PayloadError: row 0, feature 'user_id': id 500 is outside [0, 120)
"""

from __future__ import annotations

import math
import struct
import weakref
from itertools import chain
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctrkit.export import PackedLayout
from service.decoding import Decoded, Decoder
from service.features import FLOAT32_MAX, Feature
from service.messages import ErrorSink, not_utf8, unknown_feature, value_message

__all__ = ["Tensor", "TensorDecoder", "bytes_arrays", "split_bytes", "tensor_decoder"]

_PAD = {"strings": b"", "ints": 0, "floats": 0.0}
_LENGTH = struct.Struct("<I")
_FORM = "inputs"


@dataclass(slots=True)
class Tensor:
    """One input tensor as a protocol delivered it.

    ``values`` holds every element in row-major order: a numeric numpy array,
    or an object array of ``bytes`` (or ``str``) for strings. ``datatype`` is
    the type as the client named it (``INT64``, ``DT_STRING``, ...), for
    messages; ``text_checked`` says the strings are known to be valid UTF-8.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray
    text_checked: bool = False


def split_bytes(buffer: bytes, counts: Sequence[int], sizes: Sequence[int] | None = None
                ) -> tuple[list[np.ndarray], bool] | None:
    """Splits serialized ``BYTES`` tensors (each element a 4-byte little-endian length, then its bytes).

    ``buffer`` holds the tensors one after the other, ``counts`` their element
    counts and ``sizes``, when given, their sizes in bytes. Answers one array
    of bytes per tensor (fixed-width ``S`` arrays, or object arrays of
    ``bytes`` when an element ends with a NUL byte, which fixed-width bytes
    would drop) and whether every element was found to be valid UTF-8 (False:
    not checked, or not valid), or None when the buffer does not hold exactly
    those elements. Typical tensors (elements shorter
    than 256 bytes) are split by vectorised numpy steps: the element starts are
    guessed from the length prefixes' zero bytes, then checked exactly (each
    start is the previous one plus its prefix and length), so a wrong guess
    only falls back to reading element by element.
    """
    total = sum(counts)
    if total == 0:
        return ([np.empty(0, dtype=object) for _ in counts], True) if not buffer else None
    found = _split_vectorised(buffer, total) or _split_loop(buffer, total)
    if found is None:
        return None
    elements, lengths, text = found
    if sizes is not None:  # each tensor's bytes end where its last element ends
        consumed = np.concatenate([[0], np.cumsum(lengths + 4)])
        if consumed[np.cumsum(counts)].tolist() != np.cumsum(sizes).tolist():
            return None
    parts, start = [], 0
    for count in counts:
        parts.append(elements[start : start + count])
        start += count
    return parts, text


def _split_vectorised(buffer: bytes, total: int) -> tuple[np.ndarray, np.ndarray, bool] | None:
    b = np.frombuffer(buffer, dtype=np.uint8)
    size = b.size
    if size < 4 * total:
        return None
    # a start whose length is below 256 is followed by three zero bytes; keep the candidates that follow
    # another one (or open the buffer) and are followed by one (or close it), then check the chain exactly
    zeros = (b[1:-2] == 0) & (b[2:-1] == 0) & (b[3:] == 0)
    candidates = np.flatnonzero(zeros)
    if candidates.size < total:
        return None
    nxt = candidates + 4 + b[candidates].astype(np.intp)
    member = np.zeros(size + 1, dtype=bool)
    member[candidates] = True
    member[size] = True
    linked = member[np.minimum(nxt, size)] & (nxt <= size)
    reached = np.zeros(size + 1, dtype=bool)
    reached[nxt[linked]] = True
    reached[0] = True
    starts = candidates[linked & reached[candidates]]
    if starts.size != total or starts[0] != 0:
        return None
    lengths = b[starts].astype(np.intp)
    if not (np.array_equal(starts[1:], starts[:-1] + 4 + lengths[:-1]) and starts[-1] + 4 + lengths[-1] == size):
        return None
    width = int(lengths.max())
    if width == 0:
        return np.zeros(total, dtype="S1"), lengths, True
    if total * width > 8 * size + 4096:
        return None  # a few long strings among short ones: the matrix would be mostly padding
    # fixed-width bytes drop trailing NULs: exact only when no element ends with one
    if np.any((lengths > 0) & (b[starts + 3 + lengths] == 0)):
        return None
    # the bytes of every element, prefixes left out
    keep = np.ones(size, dtype=bool)
    for k in range(4):
        keep[starts + k] = False
    data = b[keep]
    present = lengths > 0
    if np.all(lengths[present] == width):  # one length, or empty: the data is the matrix
        if present.all():
            out = data.view(f"S{width}")
        else:
            out = np.zeros(total, dtype=f"S{width}")
            out[present] = data.view(f"S{width}")
        # checked with a zero byte after each element, so that no sequence is completed across two
        rows = np.zeros((total, width + 1), dtype=np.uint8)
        rows[:, :width] = out.view(np.uint8).reshape(total, width)
        return out, lengths, _utf8(rows)
    # one row per element, its bytes then zeros; the zero column keeps elements apart for the UTF-8 check
    w1 = width + 1
    column = np.tile(np.arange(w1), total)
    inside = column < np.repeat(lengths, w1)
    rows = np.zeros(total * w1, dtype=np.uint8)
    rows[inside] = data
    return rows.reshape(total, w1)[:, :width].copy().view(f"S{width}").reshape(total), lengths, _utf8(rows)


def _utf8(rows: np.ndarray) -> bool:
    """Whether the bytes of ``rows`` (elements each followed by a zero byte) are valid UTF-8."""
    try:
        rows.tobytes().decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _split_loop(buffer: bytes, total: int) -> tuple[np.ndarray, np.ndarray, bool] | None:
    out = np.empty(total, dtype=object)
    lengths = np.empty(total, dtype=np.intp)
    offset, size, unpack = 0, len(buffer), _LENGTH.unpack_from
    for i in range(total):
        if offset + 4 > size:
            return None
        (length,) = unpack(buffer, offset)
        offset += 4
        if offset + length > size:
            return None
        out[i] = buffer[offset : offset + length]
        lengths[i] = length
        offset += length
    return (out, lengths, False) if offset == size else None


def bytes_arrays(lists: Sequence[Sequence[bytes]]) -> tuple[list[np.ndarray], bool]:
    """One object array of byte strings per list, made in one numpy call for all of them, and whether
    every element is valid UTF-8 (checked with one decode)."""
    flat = list(chain.from_iterable(lists))
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    try:
        b"\n".join(flat).decode("utf-8")
        text = True
    except (UnicodeDecodeError, TypeError):
        text = False
    out, start = [], 0
    for items in lists:
        out.append(array[start : start + len(items)])
        start += len(items)
    return out, text


def _utf8_problem(value: Any) -> str | None:
    """Why a string element is not valid UTF-8 text (None when it is)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"the string holds a lone UTF-16 surrogate at character {exc.start}, which is not valid Unicode"
        return None
    if not isinstance(value, (bytes, bytearray)):
        return f"expected a string, got {type(value).__name__}"
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not_utf8(value[exc.start], len(value[: exc.start].decode("utf-8")))
    return None


def _all_text(values: np.ndarray) -> bool:
    """Whether every element is valid UTF-8 (one decode of the elements joined by a newline)."""
    items = values.tolist()
    try:
        b"\n".join(items).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
    except TypeError:  # not all bytes: text from JSON, checked one by one
        return all(_utf8_problem(v) is None for v in items)


class _Slot:
    """Where one feature goes: its matrix, columns and padding."""

    __slots__ = ("feature", "group", "offset", "width", "pad")

    def __init__(self, feature: Feature, group: str, offset: int, width: int) -> None:
        self.feature = feature
        self.group = group
        self.offset = offset
        self.width = width
        self.pad = _PAD[group]


class TensorDecoder:
    """Checks typed tensors for one model version and writes them into its packed matrices.

    Args:
        features: the version's features (:func:`service.features.parse_features`).
        layout: the packed layout of its signature.
        max_rows: most rows in one request.
    """

    def __init__(self, features: list[Feature], layout: PackedLayout, max_rows: int) -> None:
        self.features = features
        self.by_name = {f.name: f for f in features}
        self.names = tuple(f.name for f in features)
        self.layout = layout
        self.max_rows = max_rows
        self._slots = {f.name: _Slot(f, layout.fields[f.name].group, layout.fields[f.name].offset,
                                     layout.fields[f.name].width) for f in features}
        self._lengths = [f for f in features if f.kind == "length"]
        self._weights = [f for f in features if f.kind == "weight"]
        self._written = [f for f in features if f.kind != "length"]
        # the range of every column of the ints matrix, to check a whole request's ids in two operations
        width = layout.widths.get("ints", 0)
        self._low = np.zeros(width, dtype=np.int64)
        self._high = np.zeros(width, dtype=np.int64)
        for f in features:
            slot = self._slots[f.name]
            if slot.group == "ints" and f.id_range is not None:
                lo, hi = f.id_range
                self._low[slot.offset : slot.offset + slot.width] = max(lo, -(2**63))
                self._high[slot.offset : slot.offset + slot.width] = min(hi - 1, 2**63 - 1)

    def decode(self, tensors: Sequence[Tensor], datatype_of: Callable[[Feature], str] | None = None) -> Decoded:
        """The packed matrices of ``tensors``; :class:`PayloadError` naming feature and row otherwise.

        ``datatype_of(feature)`` names the type a feature's tensor should have
        in the caller's protocol (for messages).
        """
        name_of = datatype_of or (lambda f: f.input_dtype)
        sink = ErrorSink(_FORM)
        given: dict[str, Tensor] = {}
        for t in tensors:
            if t.name not in self.by_name:
                sink.add(t.name, None, unknown_feature(t.name, self.names), "unknown_feature")
            elif t.name in given:
                sink.add(t.name, None, "given twice", "value_error")
            else:
                given[t.name] = t
        for f in self.features:
            if f.required and f.name not in given:
                sink.add(f.name, None, "missing required feature", "missing")
        n = self._rows(given, sink)
        if (err := sink.error()) is not None:
            raise err
        packed = self.layout.empty(n)
        width = self._fixed_width(given)
        if width:
            packed["strings"] = np.empty(packed["strings"].shape, dtype=f"S{width}")
        lengths: dict[str, np.ndarray] = {}
        shaped: dict[str, np.ndarray] = {}
        for f in self._written:
            slot = self._slots[f.name]
            t = given.get(f.name)
            if t is None:
                self._fill_default(packed, slot, n, lengths)
                continue
            values = self._shaped(t, f, n, name_of, sink)
            if values is None:
                continue
            shaped[f.name] = values
            if values.dtype == np.uint64 and f.id_range is not None:  # would wrap in the int64 matrix
                before = len(sink.items)
                self._ids(f, values, sink)
                if len(sink.items) > before:
                    continue
            self._write(packed, slot, values, lengths, sink)
        if (err := sink.error()) is not None:
            raise err
        self._check_values(packed, given, shaped, sink)
        if (err := sink.error()) is not None:
            raise err
        self._companions(packed, given, lengths, n, name_of, sink)
        if (err := sink.error()) is not None:
            raise err
        return Decoded(packed, n, "tensors", None, None)

    def _fixed_width(self, given: dict[str, Tensor]) -> int:
        """The width of a fixed-width strings matrix when every string comes as fixed-width bytes (else 0)."""
        if "strings" not in self.layout.groups:
            return 0
        width = 1
        for slot in self._slots.values():
            if slot.group != "strings":
                continue
            t = given.get(slot.feature.name)
            if t is not None:
                if t.values.dtype.kind != "S":
                    return 0
                width = max(width, t.values.dtype.itemsize)
                continue
            default = slot.feature.default if slot.feature.has_default else ""
            for value in default if isinstance(default, list) else [default]:
                raw = value.encode() if isinstance(value, str) else value
                if not isinstance(raw, bytes) or raw.endswith(b"\x00"):
                    return 0
                width = max(width, len(raw))
        return width

    # -- rows and shapes ------------------------------------------------------------
    def _rows(self, given: dict[str, Tensor], sink: ErrorSink) -> int:
        first = None
        for t in given.values():
            if not t.shape:
                sink.add(t.name, None, "a tensor needs at least one dimension (the rows)", "value_error")
                continue
            if first is None:
                first = t
            elif t.shape[0] != first.shape[0]:
                sink.add(t.name, None, f"tensor has {t.shape[0]} rows but {first.name!r} has {first.shape[0]}",
                         "value_error")
        if first is None:
            if not sink.items:
                sink.add(None, None, "the request holds no input tensors", "missing")
            return 0
        n = first.shape[0]
        if n < 1:
            sink.add(None, None, "the tensors hold no rows", "too_short")
        elif n > self.max_rows:
            sink.add(None, None, f"too many rows: {n} > {self.max_rows} allowed per request", "too_long")
        return n

    def _checked(self, t: Tensor, f: Feature, n: int, name_of: Callable[[Feature], str],
                 sink: ErrorSink) -> np.ndarray | None:
        """``t``'s values as an ``[n, k]`` matrix of the feature's kind, every value checked; None after an error."""
        matrix = self._shaped(t, f, n, name_of, sink)
        if matrix is None:
            return None
        before = len(sink.items)
        self._check_feature(t, f, matrix, sink)
        return matrix if len(sink.items) == before else None

    def _check_values(self, packed: dict[str, np.ndarray], given: dict[str, Tensor], shaped: dict[str, np.ndarray],
                      sink: ErrorSink) -> None:
        """Checks the values of a whole request a matrix at a time; a matrix with a problem is searched
        feature by feature for the sentences naming feature and row."""
        groups = []
        ints = packed.get("ints")
        if ints is not None and ints.size and ((ints < self._low).any() or (ints > self._high).any()):
            groups.append("ints")
        floats = packed.get("floats")
        if floats is not None and floats.size and not np.isfinite(floats).all():
            groups.append("floats")
        unchecked = [given[name] for name in shaped if self.by_name[name].is_string and not given[name].text_checked]
        if unchecked:
            try:
                b"\n".join(chain.from_iterable(t.values.tolist() for t in unchecked)).decode("utf-8")
            except (UnicodeDecodeError, TypeError):
                groups.append("strings")
        for name in shaped:
            if self._slots[name].group in groups:
                self._check_feature(given[name], self.by_name[name], shaped[name], sink)

    def _check_feature(self, t: Tensor, f: Feature, matrix: np.ndarray, sink: ErrorSink) -> None:
        if f.is_string:
            if not t.text_checked and not _all_text(t.values):
                self._locate_text(f, matrix, sink)
        elif f.id_range is not None:
            self._ids(f, matrix, sink)
        else:
            self._finite(f, matrix, sink)

    def _shaped(self, t: Tensor, f: Feature, n: int, name_of: Callable[[Feature], str],
                sink: ErrorSink) -> np.ndarray | None:
        """``t``'s values as an ``[n, k]`` matrix after the type and shape checks; None after an error."""
        values = t.values
        if f.is_string:
            ok = values.dtype == object or values.dtype.kind == "S"
        elif f.id_range is not None:
            ok = values.dtype.kind in "iu"
        else:
            ok = values.dtype.kind == "f"
        if not ok:
            sink.add(f.name, None, f"expected a {name_of(f)} tensor, got {t.datatype}", "type_error")
            return None
        size = math.prod(t.shape)
        if values.size != size:
            sink.add(f.name, None, f"{values.size} values for the shape {list(t.shape)}", "value_error")
            return None
        shape = t.shape
        if f.is_list:
            if f.kind == "dense":
                if shape[1:] != (f.dimension,):
                    sink.add(f.name, None, f"expected the shape [{n}, {f.dimension}], got {list(shape)}",
                             "value_error")
                    return None
            elif len(shape) != 2:
                sink.add(f.name, None, f"expected the shape [{n}, k] with k <= maxlen {f.maxlen}, got {list(shape)}",
                         "value_error")
                return None
            matrix = values.reshape(shape)
        else:
            if shape[1:] not in ((), (1,)):
                sink.add(f.name, None, f"expected the shape [{n}] or [{n}, 1], got {list(shape)}", "value_error")
                return None
            matrix = values.reshape(n, 1)
        return matrix

    # -- values ---------------------------------------------------------------------------
    @staticmethod
    def _locate_text(f: Feature, matrix: np.ndarray, sink: ErrorSink) -> None:
        for (row, element), value in np.ndenumerate(matrix):
            problem = _utf8_problem(value)
            if problem is not None:
                prefix = f"element {element}: " if f.is_list else ""
                sink.add(f.name, int(row), prefix + problem, "value_error")

    @staticmethod
    def _ids(f: Feature, matrix: np.ndarray, sink: ErrorSink) -> None:
        lo, hi = f.id_range  # type: ignore[misc]
        if matrix.dtype == np.uint64:
            bad = matrix >= np.uint64(hi) if hi < 2**64 else np.zeros(matrix.shape, dtype=bool)
            if lo > 0:
                bad |= matrix < np.uint64(lo)
        else:
            wide = matrix.astype(np.int64, copy=False)
            bad = (wide < lo) | (wide >= hi)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            element = int(np.argmax(bad[rows[0]]))
            what, kind = value_message(f, "less_than", int(matrix[rows[0], element]), {},
                                       [element] if f.is_list else [], False)
            sink.add_rows(f.name, rows, what, kind)

    @staticmethod
    def _finite(f: Feature, matrix: np.ndarray, sink: ErrorSink) -> None:
        finite = np.isfinite(matrix)
        if matrix.dtype.itemsize > 4:
            inside = np.abs(np.where(finite, matrix, 0)) <= FLOAT32_MAX
        else:
            inside = None
        for bad, kind in ((~finite, "finite_number"), (None if inside is None else ~inside, "less_than")):
            if bad is None or not bad.any():
                continue
            rows = np.flatnonzero(bad.any(axis=1))
            element = int(np.argmax(bad[rows[0]]))
            value = float(matrix[rows[0], element])
            what, kind = value_message(f, kind, value, {}, [element] if f.is_list else [], False)
            sink.add_rows(f.name, rows, what, kind)
            return

    # -- writing ---------------------------------------------------------------------------
    def _write(self, packed: dict[str, np.ndarray], slot: _Slot, values: np.ndarray, lengths: dict[str, np.ndarray],
               sink: ErrorSink) -> None:
        f = slot.feature
        m = packed[slot.group]
        start, width = slot.offset, slot.width
        if not f.is_list or f.kind == "dense":
            if values.dtype.itemsize > m.dtype.itemsize and slot.group == "floats":
                with np.errstate(over="ignore"):  # beyond float32: found by the finiteness check, then named
                    m[:, start : start + width] = values
            else:
                m[:, start : start + width] = values
            return
        k = values.shape[1]
        if values.dtype == object:
            filled = values.astype(bool)
        else:
            filled = values != (b"" if values.dtype.kind == "S" else 0)
        lens = np.where(filled.any(axis=1), k - np.argmax(filled[:, ::-1], axis=1), 0) if k else \
            np.zeros(len(values), dtype=np.int64)
        if k > width:
            long_rows = np.flatnonzero(lens > width)
            if long_rows.size:
                what, kind = value_message(f, "too_long", None, {"actual_length": int(lens[long_rows[0]])}, [], False)
                sink.add_rows(f.name, long_rows, what, kind)
                return
            values = values[:, :width]
            k = width
        m[:, start : start + k] = values
        if k < width:
            m[:, start + k : start + width] = slot.pad
        lengths[f.name] = lens

    def _fill_default(self, packed: dict[str, np.ndarray], slot: _Slot, n: int, lengths: dict[str, np.ndarray]) -> None:
        f = slot.feature
        m = packed[slot.group]
        start, width = slot.offset, slot.width
        default = f.default if f.has_default else ([] if f.is_list else slot.pad)
        if f.is_list and f.kind != "dense":
            row = list(default)[:width]
            row = [v.encode() if isinstance(v, str) else v for v in row] + [slot.pad] * (width - len(row))
            m[:, start : start + width] = np.array(row, dtype=m.dtype) if width else m[:, start:start]
            lengths[f.name] = np.full(n, len(default), dtype=np.int64)
        else:
            m[:, start : start + width] = default.encode() if isinstance(default, str) else default

    def _companions(self, packed: dict[str, np.ndarray], given: dict[str, Tensor], lengths: dict[str, np.ndarray],
                    n: int, name_of: Callable[[Feature], str], sink: ErrorSink) -> None:
        """Length inputs: derived from their lists, or checked against them; weights against their lists."""
        for f in self._lengths:
            slot = self._slots[f.name]
            column = packed[slot.group][:, slot.offset]
            actual = lengths.get(f.length_of or "")
            t = given.get(f.name)
            if t is None:
                column[:] = actual if actual is not None else 0
                continue
            values = self._checked(t, f, n, name_of, sink)
            if values is None:
                continue
            column[:] = values[:, 0]
            if actual is not None:
                short = np.flatnonzero(column < actual)
                if short.size:
                    i = int(short[0])
                    sink.add_rows(f.name, short, f"length {int(column[i])} differs from the {int(actual[i])} values "
                                  f"of {f.length_of!r}", "value_error")
                else:
                    lengths[f.length_of] = column.astype(np.int64)  # type: ignore[index]
        for f in self._weights:
            own, of = lengths.get(f.name), lengths.get(f.weight_of or "")
            if own is None or of is None:
                continue
            extra = np.flatnonzero(own > of)
            if extra.size:
                i = int(extra[0])
                sink.add_rows(f.name, extra, f"{int(own[i])} weights for the {int(of[i])} values of {f.weight_of!r}",
                              "value_error")


_DECODERS: weakref.WeakKeyDictionary[Decoder, TensorDecoder] = weakref.WeakKeyDictionary()


def tensor_decoder(decoder: Decoder, max_rows: int) -> TensorDecoder:
    """The tensor decoder of a version's JSON decoder (versions with the same features share it)."""
    found = _DECODERS.get(decoder)
    if found is None or found.max_rows != max_rows:
        found = _DECODERS[decoder] = TensorDecoder(decoder.features, decoder.layout, max_rows)
    return found

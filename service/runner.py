"""Calls a bundle's SavedModel with packed matrices, and checks that it fits its feature spec.

The service builds one matrix per dtype group (:class:`ctrkit.export.PackedLayout`)
and :class:`ModelRunner` hands them to the bundle's ``serving_packed`` signature
as they are: three tensors instead of dozens, which saves most of the fixed cost
of a call. It calls the signature's graph directly with the tensors in order,
once that has given the same scores as the keyword call on the load-time probe
rows, which saves the keyword call's argument handling (about a sixth of a
1-row call, with the GIL held). A bundle without that signature (or whose packed signature does not
reproduce ``serving_default``'s scores at load time) is called through
``serving_default`` with the matrices cut back into named columns (views, no
copy).

TensorFlow's thread pools are set once per process, before the first operation
runs (:func:`configure_threads`): serving wants few threads, so that model calls
do not compete with the event loop for the machine's cores.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from ctrkit.export import PackedLayout
from service.features import Feature

__all__ = ["ModelRunner", "Outputs", "Packed", "check_signature", "configure_threads"]

log = logging.getLogger(__name__)

Packed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Sets TensorFlow's intra- and inter-op thread pools (0: TensorFlow's default, one per core).

    Takes effect only before TensorFlow runs its first operation in the process;
    later calls leave the pools as they are.
    """
    if intra_op > 0:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(intra_op)
    if inter_op > 0:
        os.environ["TF_NUM_INTEROP_THREADS"] = str(inter_op)
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        if intra_op > 0:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op > 0:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as exc:  # the runtime is already initialised
        log.warning("TensorFlow thread pools already set: %s", exc)


def check_signature(bundle: Any, features: list[Feature]) -> None:
    """Raises ``ValueError`` when the features do not fit ``serving_default``.

    The decoder follows ``feature_spec.json``; the SavedModel's signature is what
    the graph takes. A dtype or list length that differs would be refused at the
    first call, or worse, accepted and scored wrongly.
    """
    structured = getattr(getattr(bundle, "signature", None), "structured_input_signature", None)
    if not structured or not isinstance(structured[-1], dict):
        return
    specs = structured[-1]
    problems = []
    for f in features:
        spec = specs.get(f.name)
        if spec is None:
            problems.append(f"{f.name!r} is not a signature input")
            continue
        width = [f.width] if f.is_list else []
        dims = spec.shape.as_list() if spec.shape.rank is not None else None
        if dims is not None and (len(dims) != 1 + len(width) or any(
            d is not None and d != w for d, w in zip(dims[1:], width)
        )):
            problems.append(f"{f.name!r} is built with shape [n{''.join(f', {w}' for w in width)}], the signature takes {dims}")
        if spec.dtype.name != f.input_dtype:
            problems.append(f"{f.name!r} is built as {f.input_dtype}, the signature takes {spec.dtype.name}")
    extra = sorted(set(specs) - {f.name for f in features})
    if extra:
        problems.append(f"signature inputs without a feature: {extra}")
    if problems:
        raise ValueError("feature spec does not match the serving signature: " + "; ".join(problems))


class ModelRunner:
    """``packed matrices -> {output: scores}`` for one loaded bundle.

    Args:
        bundle: a loaded bundle (:func:`ctrkit.export.load_bundle`): ``signature``,
            optionally ``packed_signature``.
        layout: how the matrices are laid out.
        outputs: the output names, in order.
    """

    def __init__(self, bundle: Any, layout: PackedLayout, outputs: list[str]) -> None:
        self._default = bundle.signature
        self._packed_fn = getattr(bundle, "packed_signature", None)
        self.layout = layout
        self.outputs = list(outputs)
        self.packed = False
        self._direct: _Direct | None = None
        tf = sys.modules.get("tensorflow")
        self._constant = tf.constant if tf is not None else (lambda arr: arr)

    @property
    def signature_name(self) -> str:
        return "serving_packed" if self.packed else "serving_default"

    def _outputs_of(self, result: Mapping[str, Any]) -> Outputs:
        outputs = {}
        for name in self.outputs:
            arr = np.asarray(result[name])
            outputs[name] = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
        return outputs

    def call_default(self, packed: Packed) -> Outputs:
        constant = self._constant
        columns = self.layout.unpack(packed)
        return self._outputs_of(self._default(**{k: constant(v) for k, v in columns.items()}))

    def call_packed(self, packed: Packed) -> Outputs:
        constant = self._constant
        if self._direct is not None:
            return self._outputs_of(self._direct([constant(packed[g]) for g in self._direct.names]))
        return self._outputs_of(self._packed_fn(**{g: constant(m) for g, m in packed.items()}))

    def use_packed_if_equal(self, packed: Packed, expected: Outputs) -> bool:
        """Switches to ``serving_packed`` if the bundle has it and it reproduces ``expected``; calls it
        directly (:class:`_Direct`) if that gives the same scores too."""
        if self._packed_fn is None:
            return False
        self._direct = None
        try:
            got = self.call_packed(packed)
        except Exception as exc:  # an unusable packed signature only costs speed
            log.warning("serving_packed unusable, using serving_default: %s", exc)
            return False
        self.packed = _same(got, expected, self.outputs)
        if not self.packed:
            log.warning("serving_packed gives other scores than serving_default; using serving_default")
            return False
        direct = _Direct.of(self._packed_fn, sorted(packed))
        if direct is not None:
            self._direct = direct
            try:
                ok = _same(self.call_packed(packed), got, self.outputs)
            except Exception:  # noqa: BLE001 - the checked call stays
                ok = False
            if not ok:
                self._direct = None
                log.warning("serving_packed called directly gives other scores; calling it with its argument checks")
        return True

    def __call__(self, packed: Packed) -> Outputs:
        return self.call_packed(packed) if self.packed else self.call_default(packed)


def _same(got: Outputs, expected: Outputs, names: list[str]) -> bool:
    return all(np.allclose(got[n], expected[n], atol=1e-5) for n in names)


class _Direct:
    """A loaded signature called with its tensors in order, past the Python layers of ``fn(**tensors)``:
    argument binding and type checks, the SavedModel wrapper's per-call walk over every captured
    variable (distribution-strategy handles) and the gradient-tape bookkeeping: together about
    0.22 ms of a 1-row call's 0.64 ms on one core, spent with the GIL held (the service records no
    gradients and runs no distribution strategy). Used only after it gave the checked call's scores on
    the same rows."""

    def __init__(self, call: Any, names: list[str], captured: list[Any]) -> None:
        self._call = call
        self.names = names
        self._captured = captured

    @classmethod
    def of(cls, fn: Any, names: list[str]) -> _Direct | None:
        """The direct call of ``fn`` taking ``names`` (None when this TensorFlow offers none, or the
        signature takes other arguments)."""
        call = getattr(getattr(fn, "_inference_function", None), "call_preflattened", None)
        keywords = getattr(fn, "_arg_keywords", None)
        try:
            captured = list(fn.captured_inputs)
        except Exception:  # noqa: BLE001 - no direct call then
            return None
        if call is None or keywords is None or sorted(keywords) != names:
            return None
        return cls(call, list(keywords), captured)

    def __call__(self, tensors: list[Any]) -> Mapping[str, Any]:
        return self._call(tensors + self._captured)

"""The raw model's limit: a bundle's signatures called in-process on prebuilt tensors.

Example::

    limits = raw_limits(Path("models/criteo_deepfm/1"), [1, 100, 1024, 4096], seconds=1.0)
    limits["serving_default"]["1024"]["rows_per_s"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtest.requestgen import RequestGenerator

__all__ = ["best_raw", "raw_limits"]


def _time_calls(call: Callable[..., Any], inputs: Mapping[str, Any], seconds: float) -> tuple[int, float]:
    for _ in range(3):
        call(**inputs)
    calls, start = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - start < seconds:
        for value in call(**inputs).values():
            value.numpy()
        calls += 1
    return calls, time.perf_counter() - start


def raw_limits(
    version_dir: Path, batch_sizes: Sequence[int], seconds: float, log: Callable[[str], None] = print
) -> dict[str, dict[str, dict[str, float]]]:
    """Rows/s and ms per call of ``serving_default`` and (when exported) ``serving_packed``, per batch size.

    Inputs are built once per batch size from the feature spec (the values the
    bench sends); each signature is then called back to back for ``seconds``.
    """
    import tensorflow as tf

    from ctrkit.export import load_bundle

    bundle = load_bundle(version_dir)
    generator = RequestGenerator(bundle.spec, seed=1)
    layout = bundle.layout
    signatures = {"serving_default": bundle.signature}
    if bundle.packed_signature is not None and layout is not None:
        signatures["serving_packed"] = bundle.packed_signature
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in signatures}
    for batch in batch_sizes:
        columns = generator.columns(batch)
        for entry in bundle.spec["features"]:  # length inputs: derived from their lists, as the service does
            if entry["kind"] == "length":
                columns[entry["name"]] = [len(v) for v in columns[entry["length_of"]]]
        tensors = bundle.to_tensors(columns)
        inputs_by_signature = {"serving_default": tensors}
        if "serving_packed" in signatures:
            packed = layout.pack({name: value.numpy() for name, value in tensors.items()})
            inputs_by_signature["serving_packed"] = {group: tf.constant(m) for group, m in packed.items()}
        for name, signature in signatures.items():
            inputs = inputs_by_signature[name]
            calls, elapsed = _time_calls(signature, inputs, seconds)
            rate, ms = calls * batch / elapsed, elapsed / calls * 1000
            results[name][str(batch)] = {"rows_per_s": rate, "ms_per_call": ms}
            log(f"  raw {name:15s} {batch:5d} rows/call: {rate:11,.0f} rows/s  {ms:8.2f} ms/call")
    return results


def best_raw(limits: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """The highest rows/s over every signature and batch size, with where it was reached."""
    signature, batch, figures = max(
        ((s, b, f) for s, by_batch in limits.items() for b, f in by_batch.items()), key=lambda t: t[2]["rows_per_s"]
    )
    return {"signature": signature, "rows_per_call": int(batch), "rows_per_s": figures["rows_per_s"]}

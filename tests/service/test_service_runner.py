"""The model runner: the packed signature, called directly once it gives the checked call's scores."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_rows

from service.decoding import Decoder
from service.features import parse_features
from service.runner import ModelRunner
from service.schemas import build_schemas


@pytest.fixture(scope="module")
def setup(deepfm_bundle):
    from ctrkit.export import PackedLayout

    spec = deepfm_bundle.spec
    features = parse_features(spec)
    layout = PackedLayout.from_entries(spec["features"])
    decoder = Decoder(features, layout, build_schemas("deepfm", 1, features, ["ctr"], 256))
    return decoder, layout


def _packed(decoder, n, seed):
    return decoder.decode_rows(make_rows(np.random.default_rng(seed), n)).packed


def test_the_direct_call_scores_what_the_signatures_score(deepfm_bundle, setup):
    decoder, layout = setup
    runner = ModelRunner(deepfm_bundle, layout, ["ctr"])
    probe = _packed(decoder, 32, 1)
    assert runner.use_packed_if_equal(probe, runner.call_default(probe))
    assert runner.signature_name == "serving_packed" and runner._direct is not None
    for n, seed in ((1, 2), (7, 3), (200, 4)):
        packed = _packed(decoder, n, seed)
        checked = deepfm_bundle.packed_signature(**{g: m for g, m in packed.items()})["ctr"].numpy().reshape(-1)
        np.testing.assert_allclose(runner(packed)["ctr"], checked, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(runner.call_default(packed)["ctr"], checked, rtol=1e-5, atol=1e-6)


def test_a_direct_call_that_differs_is_not_used(deepfm_bundle, setup, monkeypatch, caplog):
    from service import runner as runner_module

    decoder, layout = setup
    direct_call = runner_module._Direct.__call__

    def shifted(self, tensors):  # what a TensorFlow whose flat call took its inputs otherwise might give
        return {name: value + 0.5 for name, value in direct_call(self, tensors).items()}

    monkeypatch.setattr(runner_module._Direct, "__call__", shifted)
    runner = ModelRunner(deepfm_bundle, layout, ["ctr"])
    probe = _packed(decoder, 32, 5)
    assert runner.use_packed_if_equal(probe, runner.call_default(probe))
    assert runner._direct is None and "called directly gives other scores" in caplog.text
    packed = _packed(decoder, 5, 6)
    np.testing.assert_allclose(runner(packed)["ctr"], runner.call_default(packed)["ctr"], rtol=1e-5, atol=1e-6)

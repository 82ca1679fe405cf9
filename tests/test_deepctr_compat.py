"""DeepCTR code that runs with one import changed: HDF5 habits, DeepCTR's 2026
fixes, and the options DeepCTR accepts.

The zoo's own round trip (`tests/roundtrip.py`) saves and reloads every model
in HDF5 and `.keras`; this file holds what one small model shows.
"""

import http.server
import json
import logging
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest

import ctrkit
from ctrkit.export import export_model
from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from ctrkit.layers import CrossNet, Linear, Transformer, custom_objects
from ctrkit.layers.interaction.fm import FM
from ctrkit.models import BST, DCN, DIN, DSIN, ESMM, FNN, ONN, DeepFM, WDL
from ctrkit.utils import check_version, latest_release


def _columns():
    return [SparseFeat("user", 20, 4), SparseFeat("item", 30, 4), DenseFeat("age")]


def _rows(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = {"user": rng.integers(0, 20, n), "item": rng.integers(0, 30, n), "age": rng.random(n).astype("float32")}
    return x, (x["item"] % 2).astype("float32")


# ---------------------------------------------------------------- HDF5 habits


def test_hdf5_model_trains_on_with_its_optimizer_state(tmp_path):
    columns = _columns()
    x, y = _rows()
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    keras.saving.save_model(model, tmp_path / "DeepFM.h5")

    reloaded = keras.models.load_model(tmp_path / "DeepFM.h5", custom_objects)
    assert int(reloaded.optimizer.iterations) == int(model.optimizer.iterations) == 8
    for a, b in zip(reloaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    history = reloaded.fit(x, y, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and int(reloaded.optimizer.iterations) == 12


def test_hdf5_keeps_loss_aliases_and_the_compile_state_of_the_live_model(tmp_path):
    columns = _columns()
    x, y = _rows()
    model = WDL(columns, columns, dnn_hidden_units=(4,), task="regression")
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mse"])
    model.fit(x, y, verbose=0)
    keras.saving.save_model(model, tmp_path / "wdl.h5")
    reloaded = keras.models.load_model(tmp_path / "wdl.h5")  # Keras 3.15 alone cannot read "mse" back
    assert reloaded.evaluate(x, y, verbose=0)[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-5)

    # saving HDF5 first does not cost a later `.keras` file its optimizer
    model.save(tmp_path / "wdl.keras")
    again = keras.models.load_model(tmp_path / "wdl.keras")
    assert isinstance(again.optimizer, keras.optimizers.Adam)
    assert float(again.optimizer.learning_rate) == pytest.approx(0.01)


class _Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_fit_still_works_after_failed_loads(tmp_path):
    inputs = keras.Input((3,))
    keras.saving.save_model(keras.Model(inputs, _Unregistered()(inputs)), tmp_path / "unknown.h5")
    with pytest.raises(ValueError, match="Unknown layer"):
        keras.models.load_model(tmp_path / "unknown.h5", custom_objects)
    (tmp_path / "broken.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(OSError):
        keras.models.load_model(tmp_path / "broken.h5", custom_objects)
    other = WDL(_columns(), _columns(), dnn_hidden_units=(2,))
    keras.saving.save_model(other, tmp_path / "other.h5")

    columns = _columns()
    x, y = _rows()
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    with pytest.raises(ValueError):
        model.load_weights(tmp_path / "other.h5")  # weights of another architecture
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.5, verbose=0)
    assert np.isfinite(history.history["val_binary_crossentropy"]).all()
    assert model.predict(x, verbose=0).shape == (64, 1)


LOAD_IN_A_NEW_PROCESS = """
import sys
import numpy as np
from keras.models import load_model
from ctrkit.layers import custom_objects

x = dict(np.load(sys.argv[1], allow_pickle=True))
for path in sys.argv[2:]:
    np.save(path + ".with.npy", load_model(path, custom_objects).predict(x, verbose=0))
    np.save(path + ".without.npy", load_model(path).predict(x, verbose=0))
"""


def test_a_new_process_reloads_with_the_faqs_imports_only(tmp_path):
    # What a serving script written after DeepCTR's FAQ imports: keras and
    # ctrkit.layers' custom_objects, not the model zoo.
    columns = [
        SparseFeat("user", 20, 4),
        SparseFeat("city", 100, 4, use_hash=True, dtype="string"),
        DenseFeat("age"),
        VarLenSparseFeat(SparseFeat("hist_user", 20, 4, embedding_name="user"), maxlen=3),
    ]
    rng = np.random.default_rng(0)
    x = {
        "user": rng.integers(0, 20, 32),
        "city": np.array([f"c{i % 7}" for i in range(32)], dtype=object),
        "age": rng.random(32).astype("float32"),
        "hist_user": np.where(rng.random((32, 3)) < 0.7, rng.integers(1, 20, (32, 3)), 0),
    }
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    model.compile("adam", "binary_crossentropy")
    model.fit(x, (x["user"] % 2).astype("float32"), verbose=0)
    expected = model.predict(x, verbose=0)
    paths = [str(tmp_path / "DeepFM.h5"), str(tmp_path / "DeepFM.keras")]
    keras.saving.save_model(model, paths[0])
    model.save(paths[1])
    np.savez(tmp_path / "x.npz", **x)

    subprocess.run([sys.executable, "-c", LOAD_IN_A_NEW_PROCESS, str(tmp_path / "x.npz"), *paths], check=True)
    for path in paths:
        for how in ("with", "without"):  # custom_objects
            np.testing.assert_allclose(np.load(f"{path}.{how}.npy"), expected, atol=1e-6)


def test_import_ctrkit_reaches_the_submodules_as_import_deepctr_does():
    assert ctrkit.models.DeepFM is DeepFM
    assert ctrkit.layers.custom_objects is custom_objects


# ---------------------------------------------------------------- DeepCTR's 2026 fixes


def test_fnn_has_no_linear_part_and_linear_columns_only_feed_the_inputs():
    columns = _columns()
    linear = columns + [SparseFeat("only_linear", 5)]
    model = FNN(linear, columns, dnn_hidden_units=(4,))
    assert "only_linear" in [t.name for t in model.inputs]
    assert not any(isinstance(layer, Linear) for layer in model.layers)
    x, _ = _rows()
    x["only_linear"] = np.zeros(64, "int64")
    changed = {**x, "only_linear": np.full(64, 4)}
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(changed, verbose=0))


def test_all_dense_deepfm_has_no_fm_branch():
    columns = [DenseFeat("a"), DenseFeat("b", 3)]
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    assert not any(isinstance(layer, FM) for layer in model.layers)
    model.compile("adam", "binary_crossentropy")
    x = {"a": np.random.rand(16), "b": np.random.rand(16, 3)}
    model.fit(x, np.arange(16) % 2, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 1)


def _behaviour_columns(hist_vocabulary=30, hist_dim=4):
    return [
        SparseFeat("item", 30, 4),
        VarLenSparseFeat(SparseFeat("hist_item", hist_vocabulary, hist_dim, embedding_name="item"), maxlen=3),
        VarLenSparseFeat(SparseFeat("genres", 10, 4), maxlen=2),
    ]


def test_features_sharing_an_embedding_name_share_one_table():
    model = DIN(_behaviour_columns(), ["item"], dnn_hidden_units=(4,), att_hidden_size=(4,))
    tables = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)}
    assert "sparse_emb_item" in tables and "sparse_seq_emb_item" not in tables
    assert tables["sparse_emb_item"].mask_zero  # kept for the sequence
    assert "sparse_seq_emb_genres" in tables  # a table only sequences use keeps DeepCTR's sequence name
    assert sum(1 for v in model.weights if v.path.startswith("sparse_emb_item/")) == 1


@pytest.mark.parametrize("kwargs, what", [({"hist_vocabulary": 31}, "vocabulary_size 30 and 31"), ({"hist_dim": 8}, "embedding_dim 4 and 8")])
def test_features_sharing_an_embedding_name_must_agree_on_its_shape(kwargs, what):
    with pytest.raises(ValueError, match=f"'item' and 'hist_item' share the embedding table 'item'.*{what}"):
        WDL(_behaviour_columns(**kwargs), _behaviour_columns(**kwargs))


@pytest.mark.parametrize(
    "column",
    [SparseFeat("city", 10, dtype="string"), VarLenSparseFeat(SparseFeat("tags", 10, dtype="string"), maxlen=3)],
    ids=["sparse", "varlen"],
)
def test_string_features_need_hashing_or_a_vocabulary(column):
    with pytest.raises(ValueError, match=f"'{column.name}' has dtype 'string' but neither use_hash=True nor a vocabulary_path"):
        DeepFM([column], [column])
    hashed = column._replace(use_hash=True) if isinstance(column, SparseFeat) else column._replace(sparsefeat=column.sparsefeat._replace(use_hash=True))
    assert DeepFM([hashed], [hashed], dnn_hidden_units=(2,)).output_shape == (None, 1)


@pytest.mark.parametrize(
    "build",
    [lambda c: ESMM(c, tower_dnn_hidden_units=(2,)), lambda c: DIN(c, ["item"]), lambda c: ONN(c, c)],
    ids=["ESMM", "DIN", "ONN"],
)
def test_every_kind_of_model_checks_string_features(build):
    columns = _behaviour_columns() + [SparseFeat("city", 10, 4, dtype="string")]
    with pytest.raises(ValueError, match="'city' has dtype 'string' but neither use_hash=True nor a vocabulary_path"):
        build(columns)


# ---------------------------------------------------------------- options DeepCTR accepts


@pytest.mark.parametrize("attention_type", ["cos", "ln"])
def test_bst_attention_types(attention_type, tmp_path):
    columns = [
        SparseFeat("item", 10, 4),
        VarLenSparseFeat(SparseFeat("hist_item", 10, 4, embedding_name="item"), maxlen=3, length_name="seq_length"),
    ]
    model = BST(columns, ["item"], att_head_num=2, dnn_hidden_units=(4,), attention_type=attention_type)
    transformer = next(layer for layer in model.layers if isinstance(layer, Transformer))
    assert transformer.attention_type == attention_type
    x = {"item": np.array([1, 2, 3, 4]), "hist_item": np.array([[1, 2, 0], [3, 0, 0], [1, 1, 1], [4, 5, 0]]), "seq_length": np.array([2, 1, 3, 2])}
    model.compile("adam", "binary_crossentropy")
    assert np.isfinite(model.fit(x, np.array([1, 0, 1, 0]), verbose=0).history["loss"][0])
    keras.saving.save_model(model, tmp_path / "bst.h5")  # the "ln" type's layer norms are saved too
    reloaded = keras.models.load_model(tmp_path / "bst.h5", custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_dcn_without_cross_part():
    columns = _columns()
    model = DCN(columns, columns, cross_num=0, dnn_hidden_units=(4,))
    assert not any(isinstance(layer, CrossNet) for layer in model.layers)
    assert model.predict(_rows()[0], verbose=0).shape == (64, 1)


def test_export_describes_the_inputs_a_model_creates_itself(tmp_path):
    columns = [SparseFeat("item", 10, 4)]
    for s in range(2):
        columns.append(VarLenSparseFeat(SparseFeat(f"sess_{s}_item", 10, 4, embedding_name="item"), maxlen=3))
    model = DSIN(columns, ["item"], sess_max_count=2, att_embedding_size=2, att_head_num=2, dnn_hidden_units=(4,))
    version = export_model(model, tmp_path, columns)  # the very columns DSIN was built from
    spec = json.loads((version / "feature_spec.json").read_text())
    entry = next(e for e in spec["features"] if e["name"] == "sess_length")
    assert entry["kind"] == "dense" and entry["dimension"] == 1 and entry["dtype"] == "float32"
    assert "sess_length" in spec["signature"]["inputs"]


class _Index(http.server.BaseHTTPRequestHandler):
    releases: dict = {}

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        body = json.dumps({"releases": self.releases}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def package_index():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/pypi/ctrkit/json"
    server.shutdown()
    server.server_close()


def test_check_version_warns_about_a_newer_release(package_index, caplog):
    _Index.releases = {"0.1.0": [], "0.3.0": [], "0.4.0rc1": [], "0.2.0": []}
    with caplog.at_level(logging.DEBUG, logger="ctrkit"):
        check_version("0.1.0", url=package_index).join(10)
        check_version(20191231, url=package_index).join(10)  # DeepCTR's test passes a number
        check_version("0.3.0", url=package_index).join(10)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0.3.0 is available; this is version 0.1.0" in warnings[0]


def test_check_version_never_raises(caplog):
    with caplog.at_level(logging.DEBUG, logger="ctrkit"):
        check_version("0.1.0", url="http://127.0.0.1:9/nothing", timeout=1).join(10)
        check_version("not a version", url="http://127.0.0.1:9/nothing", timeout=1).join(10)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]


def test_latest_release_skips_pre_and_post_releases():
    assert str(latest_release(["1.0", "1.1.dev0", "1.1rc1", "1.0.post1", "0.9", "junk"])) == "1.0"
    assert latest_release([]) is None

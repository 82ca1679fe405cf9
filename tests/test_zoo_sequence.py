"""Behaviour-sequence models and multi-value features: train, save, export, serve.

Every model goes through `assert_model_roundtrip` (fit, `.keras` reload,
export, `load_bundle`) on small padded behaviour data; the exported bundle
must also accept unpadded lists of lists, and the padding past each row's
length must not change a score.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from roundtrip import assert_model_roundtrip

from ctrkit.export import load_bundle
from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models.deepfm import DeepFM
from ctrkit.models.sequence import BST, DIEN, DIN, DSIN

N_ROWS, MAXLEN, N_ITEMS, N_CATES, N_USERS = 512, 6, 40, 8, 30
SESS_MAX_COUNT, SESS_MAXLEN = 3, 4
DIM = 4  # per feature; item + category make 8
BEHAVIOUR = ["item_id", "cate_id"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _catalogue(rng):
    return rng.integers(1, N_CATES + 1, N_ITEMS + 1)


def behaviour_rows(n: int = N_ROWS, seed: int = 0, strings: bool = False):
    """Candidates, padded behaviour histories (some empty) and sampled
    negatives; the label depends on whether the candidate's category is in
    the history."""
    rng = np.random.default_rng(seed)
    item_cate = _catalogue(rng)
    length = rng.integers(0, MAXLEN + 1, n).astype("int32")
    valid = np.arange(MAXLEN)[None, :] < length[:, None]
    hist = np.where(valid, rng.integers(1, N_ITEMS + 1, (n, MAXLEN)), 0)
    neg = np.where(valid, rng.integers(1, N_ITEMS + 1, (n, MAXLEN)), 0)
    item = rng.integers(1, N_ITEMS + 1, n)
    match = (item_cate[hist] * valid == item_cate[item][:, None]).any(axis=1)
    y = (rng.random(n) < _sigmoid(-1.0 + 2.5 * match)).astype("float32")
    x = {
        "user": rng.integers(0, N_USERS, n).astype("int32"),
        "item_id": item.astype("int32"),
        "cate_id": item_cate[item].astype("int32"),
        "pay_score": rng.random(n).astype("float32"),
        "hist_item_id": hist.astype("int32"),
        "hist_cate_id": (item_cate[hist] * valid).astype("int32"),
        "neg_hist_item_id": neg.astype("int32"),
        "neg_hist_cate_id": (item_cate[neg] * valid).astype("int32"),
        "seq_length": length,
    }
    if strings:
        for name in ("item_id", "hist_item_id"):
            x[name] = np.where(x[name] > 0, np.char.add("item", x[name].astype(str)), "").astype(object)
    return x, y


def behaviour_columns(strings: bool = False, negatives: bool = False, length_name: str | None = "seq_length"):
    if strings:
        item = SparseFeat("item_id", 100, DIM, use_hash=True, dtype="string")
        hist_item = SparseFeat("hist_item_id", 100, DIM, use_hash=True, dtype="string", embedding_name="item_id")
    else:
        item = SparseFeat("item_id", N_ITEMS + 1, DIM)
        hist_item = SparseFeat("hist_item_id", N_ITEMS + 1, DIM, embedding_name="item_id")
    columns = [
        SparseFeat("user", N_USERS, DIM),
        item,
        SparseFeat("cate_id", N_CATES + 1, DIM),
        DenseFeat("pay_score", 1),
        VarLenSparseFeat(hist_item, MAXLEN, length_name=length_name),
        VarLenSparseFeat(
            SparseFeat("hist_cate_id", N_CATES + 1, DIM, embedding_name="cate_id"), MAXLEN, length_name=length_name
        ),
    ]
    if negatives:
        columns += [
            VarLenSparseFeat(
                SparseFeat(f"neg_hist_{name}", size, DIM, embedding_name=name), MAXLEN, length_name=length_name
            )
            for name, size in (("item_id", N_ITEMS + 1), ("cate_id", N_CATES + 1))
        ]
    return columns


def session_rows(n: int = N_ROWS, seed: int = 0):
    """Candidates and up to `SESS_MAX_COUNT` padded sessions, filled from
    session 0 on; `sess_length` counts the non-empty sessions."""
    rng = np.random.default_rng(seed)
    item_cate = _catalogue(rng)
    sess_length = rng.integers(0, SESS_MAX_COUNT + 1, n)
    item = rng.integers(1, N_ITEMS + 1, n)
    x = {
        "user": rng.integers(0, N_USERS, n).astype("int32"),
        "item_id": item.astype("int32"),
        "cate_id": item_cate[item].astype("int32"),
        "pay_score": rng.random(n).astype("float32"),
        "sess_length": sess_length.astype("float32"),
    }
    match = np.zeros(n, bool)
    for s in range(SESS_MAX_COUNT):
        length = np.where(s < sess_length, rng.integers(1, SESS_MAXLEN + 1, n), 0)
        valid = np.arange(SESS_MAXLEN)[None, :] < length[:, None]
        items = np.where(valid, rng.integers(1, N_ITEMS + 1, (n, SESS_MAXLEN)), 0)
        cates = item_cate[items] * (items > 0)
        match |= (cates == item_cate[item][:, None]).any(axis=1)
        x[f"sess_{s}_item_id"], x[f"sess_{s}_cate_id"] = items.astype("int32"), cates.astype("int32")
    y = (rng.random(n) < _sigmoid(-1.0 + 2.5 * match)).astype("float32")
    return x, y


def session_columns():
    columns = [
        SparseFeat("user", N_USERS, DIM),
        SparseFeat("item_id", N_ITEMS + 1, DIM),
        SparseFeat("cate_id", N_CATES + 1, DIM),
        DenseFeat("pay_score", 1),
    ]
    for s in range(SESS_MAX_COUNT):
        columns += [
            VarLenSparseFeat(SparseFeat(f"sess_{s}_item_id", N_ITEMS + 1, DIM, embedding_name="item_id"), SESS_MAXLEN),
            VarLenSparseFeat(SparseFeat(f"sess_{s}_cate_id", N_CATES + 1, DIM, embedding_name="cate_id"), SESS_MAXLEN),
        ]
    return columns


SMALL = dict(dnn_hidden_units=(16, 8))
CASES = {
    "DIN": lambda: (
        DIN(behaviour_columns(strings=True, length_name=None), BEHAVIOUR, att_hidden_size=(8,), **SMALL),
        behaviour_columns(strings=True, length_name=None),
        {"strings": True},
    ),
    "DIEN-AUGRU": lambda: (
        DIEN(behaviour_columns(), BEHAVIOUR, gru_type="AUGRU", att_hidden_units=(8,), **SMALL),
        behaviour_columns(),
        {},
    ),
    "DIEN-AUGRU-negsampling": lambda: (
        DIEN(
            behaviour_columns(negatives=True), BEHAVIOUR, gru_type="AUGRU", use_negsampling=True,
            att_hidden_units=(8,), **SMALL,
        ),
        behaviour_columns(negatives=True),
        {},
    ),
    "DSIN": lambda: (
        DSIN(
            session_columns(), BEHAVIOUR, sess_max_count=SESS_MAX_COUNT, bias_encoding=True,
            att_embedding_size=2, att_head_num=4, **SMALL,
        ),
        session_columns(),  # the model's own columns: it describes its sess_length input itself
        {"sessions": True},
    ),
    "BST": lambda: (BST(behaviour_columns(), BEHAVIOUR, att_head_num=2, **SMALL), behaviour_columns(), {}),
}


def _unpad(array: np.ndarray, lengths: np.ndarray) -> list[list]:
    return [list(row[:k]) for row, k in zip(array.tolist(), lengths)]


def _noise_past_length(x: dict, names) -> dict:
    """`x` with random ids in every padded position of the behaviour columns."""
    rng = np.random.default_rng(1)
    noisy = dict(x)
    past = np.arange(MAXLEN)[None, :] >= x["seq_length"][:, None]
    for name in names:
        noisy[name] = np.where(past, rng.integers(1, N_CATES + 1, x[name].shape), x[name]).astype("int32")
    assert (noisy[names[0]] != x[names[0]]).any()
    return noisy


def _randomise_embeddings(model, seed: int = 0) -> None:
    """Unit-scale embeddings, so that every behaviour visibly moves the score."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            layer.embeddings.assign(rng.normal(size=layer.embeddings.shape).astype("float32"))


def _scores(model, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False)).reshape(-1)


@pytest.mark.parametrize("case", list(CASES))
def test_sequence_model_roundtrip(case, tmp_path):
    keras.utils.set_random_seed(0)
    model, columns, options = CASES[case]()
    if options.get("sessions"):
        x, y = session_rows()
    else:
        x, y = behaviour_rows(strings=options.get("strings", False))
    names = [t.name for t in model.inputs]
    x = {name: x[name] for name in names}
    assert_model_roundtrip(model, x, y, columns, tmp_path)
    expected = model.predict(x, batch_size=256, verbose=0).reshape(-1)

    # The bundle takes unpadded lists of lists and pads them itself.
    bundle = load_bundle(tmp_path / "repository" / "1")
    varlen = [e for e in bundle.spec["features"] if e["kind"] == "varlen"]
    assert varlen and all(e["maxlen"] in (MAXLEN, SESS_MAXLEN) for e in varlen)
    pad = "" if options.get("strings") else 0
    as_lists = dict(x)
    for e in varlen:
        lengths = (np.asarray(x[e["name"]]) != pad).sum(axis=1)
        as_lists[e["name"]] = _unpad(np.asarray(x[e["name"]]), lengths)
    scores = bundle.predict(as_lists)[bundle.output_names[0]]
    np.testing.assert_allclose(scores, expected, atol=1e-5)

    # What lies past a row's length, or in sessions past its session count, is ignored.
    if "seq_length" in x:
        noisy = _noise_past_length(x, [n for n in names if n.startswith(("hist_", "neg_hist_"))])
        np.testing.assert_allclose(model.predict(noisy, batch_size=256, verbose=0).reshape(-1), expected, atol=1e-5)
    if options.get("sessions"):
        noisy = dict(x)
        last = SESS_MAX_COUNT - 1
        empty = x["sess_length"] <= last
        for feature in BEHAVIOUR:
            name = f"sess_{last}_{feature}"
            filler = 1 + np.arange(SESS_MAXLEN)[None, :] % N_CATES
            noisy[name] = np.where(empty[:, None], filler, x[name]).astype("int32")
        assert (noisy[f"sess_{last}_item_id"] != x[f"sess_{last}_item_id"]).any()
        np.testing.assert_allclose(model.predict(noisy, batch_size=256, verbose=0).reshape(-1), expected, atol=1e-5)


def test_din_reads_history_length():
    """With a length_name, DIN attends to the first `seq_length` behaviours only."""
    keras.utils.set_random_seed(0)
    columns = behaviour_columns()
    x, _ = behaviour_rows(64)
    x = {name: x[name] for name in get_feature_names(columns)}
    model = DIN(columns, BEHAVIOUR, att_hidden_size=(8,), dnn_hidden_units=(8,))
    _randomise_embeddings(model)
    expected = _scores(model, x)
    noisy = _noise_past_length(x, ["hist_item_id", "hist_cate_id"])
    np.testing.assert_allclose(_scores(model, noisy), expected, atol=1e-6)
    shorter = dict(x, seq_length=np.maximum(x["seq_length"] - 1, 0))
    changed = np.abs(_scores(model, shorter) - expected) > 1e-7
    np.testing.assert_array_equal(changed, x["seq_length"] > 0)


def _total(losses) -> float:
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in losses))


@pytest.mark.parametrize("gru_type", ["GRU", "AIGRU", "AGRU", "AUGRU"])
def test_dien_auxiliary_loss_only_in_training(gru_type):
    keras.utils.set_random_seed(0)
    columns = behaviour_columns(negatives=True)
    x, y = behaviour_rows(64)
    x = {name: x[name] for name in get_feature_names(columns)}
    plain = DIEN(columns, BEHAVIOUR, gru_type=gru_type, dnn_hidden_units=(8,), att_hidden_units=(8,))
    model = DIEN(
        columns, BEHAVIOUR, gru_type=gru_type, use_negsampling=True, dnn_hidden_units=(8,), att_hidden_units=(8,)
    )
    regularisation = _total(plain.losses)

    plain(x, training=True)
    assert _total(plain.losses) == pytest.approx(regularisation, abs=1e-6)  # only the looked-up rows' tiny L2
    model(x, training=False)
    assert _total(model.losses) == pytest.approx(regularisation, abs=1e-6)
    model(x, training=True)
    auxiliary = _total(model.losses) - regularisation
    # Clicked and sampled behaviours start out indistinguishable: -log(1/2) twice.
    assert auxiliary == pytest.approx(2 * np.log(2), abs=0.1)
    # The sampled behaviours never reach the prediction.
    shuffled = dict(x, neg_hist_item_id=x["neg_hist_item_id"][::-1], neg_hist_cate_id=x["neg_hist_cate_id"][::-1])
    np.testing.assert_allclose(_scores(model, shuffled), _scores(model, x), atol=1e-6)


def test_sequence_models_reject_bad_columns():
    columns = behaviour_columns()
    with pytest.raises(ValueError, match="history_feature_list"):
        DIN(columns, ["price"])
    with pytest.raises(ValueError, match="gru_type"):
        DIEN(columns, BEHAVIOUR, gru_type="LSTM")
    with pytest.raises(ValueError, match="use_negsampling"):
        DIEN(columns, BEHAVIOUR, use_negsampling=True)
    with pytest.raises(ValueError, match="length_name"):
        DIEN(behaviour_columns(length_name=None), BEHAVIOUR)
    with pytest.raises(ValueError, match="att_head_num"):
        BST(columns, BEHAVIOUR, att_head_num=3)
    with pytest.raises(ValueError, match="att_embedding_size"):
        DSIN(session_columns(), BEHAVIOUR, sess_max_count=SESS_MAX_COUNT, att_head_num=4)
    with pytest.raises(ValueError, match="session 3"):
        DSIN(session_columns(), BEHAVIOUR, sess_max_count=4, att_embedding_size=2, att_head_num=4)


GENRES = np.array(["Action", "Comedy", "Drama", "Romance", "Thriller", "Sci-Fi", "Horror"], dtype=object)
GENRE_MAXLEN = 4


def genre_rows(n: int = N_ROWS, seed: int = 0):
    """Movies with 1 to 4 genre strings (padded with ""), weights and a
    rating-like label that depends on the genres."""
    rng = np.random.default_rng(seed)
    count = rng.integers(1, GENRE_MAXLEN + 1, n)
    codes = rng.integers(0, len(GENRES), (n, GENRE_MAXLEN))
    valid = np.arange(GENRE_MAXLEN)[None, :] < count[:, None]
    genres = np.where(valid, GENRES[codes], "").astype(object)
    weights = np.where(valid, rng.random((n, GENRE_MAXLEN)), 0.0).astype("float32")[..., None]
    liked = (np.isin(genres, ["Comedy", "Romance"]) & valid).any(axis=1)
    x = {
        "user_id": rng.integers(0, N_USERS, n).astype("int32"),
        "gender": rng.choice(np.array(["F", "M"], dtype=object), n),
        "genres": genres,
        "genres_weight": weights,
    }
    y = (rng.random(n) < _sigmoid(-0.5 + 1.5 * liked)).astype("float32")
    return x, y, count


@pytest.mark.parametrize(
    "weighted, with_length", [(False, False), (True, False), (True, True)], ids=["plain", "weighted", "weighted-length"]
)
def test_multi_value_genres_deepfm_roundtrip(weighted, with_length, tmp_path):
    """Hashed string genres padded with "": masked pooling, with or without
    per-genre weights, or the valid length from a length input."""
    keras.utils.set_random_seed(0)
    columns = [
        SparseFeat("user_id", N_USERS, DIM),
        SparseFeat("gender", 10, DIM, use_hash=True, dtype="string"),
        VarLenSparseFeat(
            SparseFeat("genres", 100, DIM, use_hash=True, dtype="string"),
            GENRE_MAXLEN,
            combiner="mean",
            length_name="genres_len" if with_length else None,
            weight_name="genres_weight" if weighted else None,
        ),
    ]
    x, y, count = genre_rows()
    x["genres_len"] = count.astype("int32")
    x = {name: x[name] for name in get_feature_names(columns)}
    model = DeepFM(columns, columns, dnn_hidden_units=(16, 8))
    assert_model_roundtrip(model, x, y, columns, tmp_path)
    expected = model.predict(x, batch_size=256, verbose=0).reshape(-1)

    bundle = load_bundle(tmp_path / "repository" / "1")
    kinds = {e["name"]: e["kind"] for e in bundle.spec["features"]}
    genres = next(e for e in bundle.spec["features"] if e["name"] == "genres")
    assert (genres["maxlen"], genres["use_hash"], genres["dtype"]) == (GENRE_MAXLEN, True, "string")
    as_lists = dict(x, genres=_unpad(x["genres"], count))
    if weighted:
        assert kinds["genres_weight"] == "weight"
        assert bundle.spec["signature"]["inputs"]["genres_weight"]["shape"] == [-1, GENRE_MAXLEN]
        as_lists["genres_weight"] = _unpad(x["genres_weight"][..., 0], count)
    if with_length:
        assert kinds["genres_len"] == "length"
        assert bundle.spec["signature"]["inputs"]["genres_len"]["shape"] == [-1]
    np.testing.assert_allclose(bundle.predict(as_lists)["ctr"], expected, atol=1e-5)

    # The genres matter; with a length input, only the first genres_len do.
    one_genre = dict(x, genres=np.where(x["genres"] == "", "", "Horror").astype(object))
    assert np.abs(_scores(model, one_genre) - expected).max() > 1e-4
    if with_length:
        past = np.arange(GENRE_MAXLEN)[None, :] >= count[:, None]
        noisy = dict(x, genres=np.where(past, "Comedy", x["genres"]).astype(object))
        np.testing.assert_allclose(_scores(model, noisy), expected, atol=1e-6)
    if weighted:
        reweighted = dict(x, genres_weight=(x["genres_weight"] * 3.0).astype("float32"))
        assert np.abs(_scores(model, reweighted) - expected).max() > 1e-6

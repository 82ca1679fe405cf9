"""Synthetic data generators: formats, determinism, and the planted models."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ctrkit.data import (
    AVAZU_COLUMNS,
    CENSUS_COLUMNS,
    CENSUS_LABELS,
    CRITEO_COLUMNS,
    GENRES,
    MOVIELENS_COLUMNS,
    SyntheticDataset,
    log_loss,
    make_avazu,
    make_behavior_sequences,
    make_census,
    make_criteo,
    make_movielens,
    roc_auc_score,
    train_valid_split,
)

HEX8 = r"^[0-9a-f]{8}$"


def is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


def binary_entropy(rate: float) -> float:
    return -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))


@pytest.fixture(scope="module")
def criteo_200k():
    start = time.perf_counter()
    data = make_criteo(200_000, seed=0)
    return data, time.perf_counter() - start


# --- metrics --------------------------------------------------------------------


def test_roc_auc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 12, 300).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc_score(y, s) == pytest.approx(wins / (pos.size * neg.size), abs=1e-12)
    assert roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc_score([0, 1], [0.3, 0.3]) == 0.5


def test_log_loss_matches_formula():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.2, 0.9, 0.6, 0.4])
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert log_loss(y, p) == pytest.approx(expected)
    assert np.isfinite(log_loss([1, 0], [0.0, 1.0]))  # clipped


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc_score([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="only 0 and 1"):
        roc_auc_score([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        log_loss([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="3 values but y_score has 2"):
        roc_auc_score([0, 1, 1], [0.2, 0.3])


# --- Criteo ---------------------------------------------------------------------


def test_criteo_format():
    frame = make_criteo(5_000, seed=1).frame
    assert tuple(frame.columns) == CRITEO_COLUMNS
    assert frame["label"].dtype == np.int64 and set(frame["label"].unique()) == {0, 1}
    assert frame["I2"].dtype == np.int64 and frame["I2"].min() >= 0
    for i in (1, *range(3, 14)):
        column = frame[f"I{i}"]
        assert column.dtype == np.float64
        values = column.dropna()
        assert (values >= 0).all() and (values == np.floor(values)).all()
    assert frame["I1"].isna().mean() == pytest.approx(0.45, abs=0.03)
    assert frame["I12"].isna().mean() == pytest.approx(0.77, abs=0.03)
    assert frame["I5"].max() > 50 * frame["I5"].median()  # heavy tailed
    for i in range(1, 27):
        column = frame[f"C{i}"]
        assert is_text(column), column.dtype
        assert column.dropna().str.match(HEX8).all()
    # Columns that go missing together, as in the real logs.
    assert frame["C19"].isna().equals(frame["C26"].isna())
    assert frame["C19"].isna().mean() == pytest.approx(0.44, abs=0.03)
    assert frame["C1"].notna().all()


def test_criteo_cardinalities_span_ten_to_tens_of_thousands(criteo_200k):
    frame = criteo_200k[0].frame
    distinct = {c: frame[c].nunique() for c in frame.columns if c.startswith("C")}
    assert distinct["C9"] == 3 and distinct["C20"] == 4
    assert min(distinct.values()) <= 10
    assert max(distinct.values()) > 5_000  # long tails: values seen about once
    top_share = frame["C3"].value_counts(normalize=True).iloc[0]
    assert top_share > 0.05  # Zipf-like: one value is frequent, most are rare


def test_criteo_is_deterministic():
    a, b = make_criteo(2_000, seed=5), make_criteo(2_000, seed=5)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.probability, b.probability)
    c = make_criteo(2_000, seed=6)
    assert not c.frame.equals(a.frame)
    # Same model_seed: the same tokens for the same frequent values.
    assert set(a.frame["C9"]) == set(c.frame["C9"])
    d = make_criteo(2_000, seed=5, model_seed=1)
    assert set(d.frame["C9"]).isdisjoint(set(a.frame["C9"]))


def test_criteo_planted_model(criteo_200k):
    data, _ = criteo_200k
    rate = data.labels.mean()
    assert 0.2 <= rate <= 0.3
    assert data.probability.mean() == pytest.approx(rate, abs=0.01)
    assert 0.75 <= data.planted_auc <= 0.81
    assert data.planted_logloss < binary_entropy(rate) - 0.05
    np.testing.assert_array_equal(data.labels, data.frame["label"].to_numpy())


def test_criteo_has_pairwise_interactions(criteo_200k):
    # Mean logit over the cells of two columns: additive effects cancel in
    # the contrast l11 - l10 - l01 + l00, interactions do not.
    data, _ = criteo_200k
    frame = data.frame
    logit = np.log(data.probability / (1 - data.probability))

    def contrast(a, b):
        # Cells: most frequent value of each column or not. Returns the
        # contrast in units of its standard error.
        in_a = (frame[a] == frame[a].mode()[0]).to_numpy()
        in_b = (frame[b] == frame[b].mode()[0]).to_numpy()
        cells = [logit[(in_a == i) & (in_b == j)] for i in (False, True) for j in (False, True)]
        value = cells[3].mean() - cells[2].mean() - cells[1].mean() + cells[0].mean()
        return value / np.sqrt(sum(c.var() / c.size for c in cells))

    planted = [abs(contrast(a, b)) for a, b in (("C9", "C23"), ("C17", "C20"), ("C6", "C22"))]
    assert min(planted) > 3 and max(planted) > 10
    assert abs(contrast("C1", "C2")) < 3  # a pair without interaction
    assert abs(contrast("C6", "C9")) < 3


def test_criteo_200k_rows_fast(criteo_200k):
    data, seconds = criteo_200k
    assert len(data) == 200_000
    assert seconds < 6.0  # about 0.3 s on an idle core; generous for shared machines


def test_criteo_arguments():
    with pytest.raises(ValueError, match="n_rows"):
        make_criteo(0)
    with pytest.raises(ValueError, match="base rate"):
        make_criteo(10, base_ctr=1.5)
    with pytest.raises(ValueError, match="signal_strength"):
        make_criteo(10, signal_strength=-1.0)
    weak = make_criteo(20_000, seed=2, signal_strength=0.3)
    strong = make_criteo(20_000, seed=2, signal_strength=1.5)
    assert weak.planted_auc < strong.planted_auc
    assert make_criteo(20_000, base_ctr=0.1).labels.mean() == pytest.approx(0.1, abs=0.015)


# --- Avazu ----------------------------------------------------------------------


def test_avazu_format_and_structure():
    data = make_avazu(20_000, seed=1)
    frame = data.frame
    assert tuple(frame.columns) == AVAZU_COLUMNS
    assert frame["id"].dtype == np.uint64 and frame["id"].is_unique
    hour = frame["hour"]
    assert hour.between(14102100, 14103023).all() and (hour % 100 < 24).all()
    for column in ("site_id", "site_domain", "app_id", "device_id", "device_ip", "device_model"):
        assert is_text(frame[column]) and frame[column].str.match(HEX8).all()
    for column in ("C1", "banner_pos", "device_type", "C14", "C15", "C16", "C17", "C20", "C21"):
        assert frame[column].dtype == np.int64
    # A site has one domain and category; an app one domain; a creative one group and size.
    assert frame.groupby("site_id")["site_domain"].nunique().max() == 1
    assert frame.groupby("app_id")["app_category"].nunique().max() == 1
    assert frame.groupby("C14")[["C15", "C16", "C17"]].nunique().max().max() == 1
    # Traffic is from a site or from an app, never both.
    app_traffic = frame["app_id"] != "ecad2386"
    assert (frame.loc[app_traffic, "site_id"] == "85f751fd").all()
    assert 0.25 < app_traffic.mean() < 0.45
    assert 0.12 <= data.labels.mean() <= 0.22
    assert 0.7 <= data.planted_auc <= 0.85
    pd.testing.assert_frame_equal(make_avazu(500, seed=4).frame, make_avazu(500, seed=4).frame)


# --- MovieLens ------------------------------------------------------------------


def test_movielens_format_and_planted_ratings():
    data = make_movielens(30_000, seed=1)
    frame = data.frame
    assert tuple(frame.columns) == MOVIELENS_COLUMNS
    assert frame["rating"].between(1, 5).all() and frame["rating"].dtype == np.int64
    shares = frame["rating"].value_counts(normalize=True)
    assert shares[4] == pytest.approx(0.35, abs=0.03) and shares[1] == pytest.approx(0.056, abs=0.02)
    assert frame["title"].str.match(r"^.+ \((19|20)\d\d\)$").all()
    genres = frame["genres"].str.split("|")
    assert genres.map(lambda g: set(g) <= set(GENRES) and 1 <= len(g) <= 5).all()
    assert set(frame["gender"]) == {"M", "F"}
    assert set(frame["age"]) <= {1, 18, 25, 35, 45, 50, 56}
    assert frame["occupation"].between(0, 20).all()
    assert frame["zip"].str.match(r"^\d{5}(-\d{4})?$").all()
    # Users keep their attributes; movies their title and genres.
    assert frame.groupby("user_id")[["gender", "age", "occupation", "zip"]].nunique().max().max() == 1
    assert frame.groupby("movie_id")[["title", "genres"]].nunique().max().max() == 1
    # Genre ids in `sequences` spell the genres string.
    ids = data.sequences["genres"]
    for row in range(5):
        names = [GENRES[i - 1] for i in ids[row] if i > 0]
        assert "|".join(names) == frame.loc[row, "genres"]
    # Binary view: rating >= 4, its planted probability; regression view.
    np.testing.assert_array_equal(data.labels, (frame["rating"] >= 4).to_numpy())
    assert data.probability.mean() == pytest.approx(data.labels.mean(), abs=0.01)
    assert data.planted_auc > 0.7
    expected = data.extras["expected_rating"]
    planted_mse = np.mean((frame["rating"] - expected) ** 2)
    assert planted_mse < 0.8 * frame["rating"].var()


# --- census ---------------------------------------------------------------------


def test_census_two_related_tasks():
    data = make_census(30_000, seed=1)
    frame = data.frame
    assert tuple(frame.columns) == CENSUS_COLUMNS + CENSUS_LABELS
    assert data.target == CENSUS_LABELS and data.probability.shape == (30_000, 2)
    assert frame["income_50k"].isin(["- 50000.", "50000+."]).all()
    np.testing.assert_array_equal(frame["label_income"], (frame["income_50k"] == "50000+.").astype(int))
    np.testing.assert_array_equal(frame["label_marital"], (frame["marital_stat"] == "Never married").astype(int))
    assert 0.04 < frame["label_income"].mean() < 0.09
    assert 0.38 < frame["label_marital"].mean() < 0.5
    auc = data.planted_auc
    assert set(auc) == set(CENSUS_LABELS)
    assert auc["label_income"] > 0.85 and auc["label_marital"] > 0.9
    # Shared drivers: the two true probabilities are related.
    assert abs(np.corrcoef(data.probability.T)[0, 1]) > 0.1
    children = frame["age"] < 16
    assert (frame.loc[children, "education"] == "Children").all()
    assert (frame.loc[children, "weeks_worked"] == 0).all()
    assert frame.loc[children, "label_income"].sum() == 0
    assert (frame.loc[frame["year"] == 95, "mig_chg_msa"] == "?").all()
    assert frame["instance_weight"].dtype == np.float64
    assert not frame["education"].str.startswith(" ").any()


# --- behaviour sequences -------------------------------------------------------


@pytest.fixture(scope="module")
def behavior():
    return make_behavior_sequences(20_000, seed=1, maxlen=12, n_items=400, n_cates=15, n_sessions=4, session_maxlen=5)


def test_behavior_sequences_shapes_and_padding(behavior):
    data, frame = behavior, behavior.frame
    hist, cates = data.sequences["hist_item_id"], data.sequences["hist_cate_id"]
    assert hist.shape == (20_000, 12) and hist.dtype == np.int32
    length = frame["seq_length"].to_numpy()
    positions = np.arange(12)[None, :]
    assert ((hist > 0) == (positions < length[:, None])).all()  # ids >= 1, 0 only as padding
    assert length.min() >= 1 and length.max() == 12
    assert hist.max() <= 400 and cates.max() <= 15
    # Each item has one category, wherever it appears.
    pairs = np.concatenate([np.stack([hist[hist > 0], cates[hist > 0]], 1), frame[["item_id", "cate_id"]].to_numpy()])
    assert pd.DataFrame(pairs).groupby(0)[1].nunique().max() == 1
    # The frame holds the unpadded lists.
    assert list(frame.loc[0, "hist_item_id"]) == list(hist[0, : length[0]])
    # DIEN negatives: another item at every real position, nothing elsewhere.
    neg = data.sequences["neg_hist_item_id"]
    assert ((neg > 0) == (hist > 0)).all() and not (neg[hist > 0] == hist[hist > 0]).any()
    # DSIN sessions: the first sess_length ones are filled; the history is their tail.
    sessions = [data.sequences[f"sess_{k}_item_id"] for k in range(4)]
    assert sessions[0].shape == (20_000, 5)
    filled = np.stack([(s > 0).any(axis=1) for s in sessions], axis=1)
    assert (filled.sum(axis=1) == frame["sess_length"]).all()
    assert (filled == (np.arange(4)[None, :] < frame["sess_length"].to_numpy()[:, None])).all()
    for row in range(20):
        items = [i for s in sessions for i in s[row] if i > 0]
        assert items[-length[row]:] == list(hist[row, : length[row]])
    inputs = data.model_input()
    assert inputs["hist_item_id"].shape == (20_000, 12) and inputs["user"].shape == (20_000,)
    assert "seq_length" in inputs and "sess_3_cate_id" in inputs


def test_behavior_label_depends_on_history(behavior):
    data, frame = behavior, behavior.frame
    labels = data.labels
    # An observable history-only score: history items in the candidate's category.
    same_cate = (data.sequences["hist_cate_id"] == frame["cate_id"].to_numpy()[:, None]).sum(axis=1)
    history_auc = roc_auc_score(labels, same_cate)
    context_auc = roc_auc_score(labels, data.extras["context_logit"])
    assert history_auc > context_auc + 0.1
    assert data.planted_auc > context_auc + 0.15
    assert 0.25 < labels.mean() < 0.35


def test_behavior_arguments():
    with pytest.raises(ValueError, match="n_items must be >= n_cates"):
        make_behavior_sequences(10, n_items=5, n_cates=10)
    with pytest.raises(ValueError, match="maxlen"):
        make_behavior_sequences(10, maxlen=0)
    a = make_behavior_sequences(300, seed=2)
    b = make_behavior_sequences(300, seed=2)
    np.testing.assert_array_equal(a.sequences["sess_0_item_id"], b.sequences["sess_0_item_id"])
    np.testing.assert_array_equal(a.labels, b.labels)


# --- splitting ------------------------------------------------------------------


def test_train_valid_split_frame():
    frame = pd.DataFrame({"x": np.arange(1_000)})
    train, valid = train_valid_split(frame, 0.25, seed=3)
    assert len(train) == 750 and len(valid) == 250
    assert set(train["x"]).isdisjoint(valid["x"]) and len(set(train["x"]) | set(valid["x"])) == 1_000
    assert train["x"].is_monotonic_increasing
    again, _ = train_valid_split(frame, 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)
    other, _ = train_valid_split(frame, 0.25, seed=4)
    assert not other.equals(train)
    with pytest.raises(ValueError, match="valid_fraction"):
        train_valid_split(frame, 1.0)
    with pytest.raises(ValueError, match="empty part"):
        train_valid_split(frame.iloc[:2], 0.1)


def test_train_valid_split_dataset_keeps_rows_aligned():
    data = make_criteo(3_000, seed=7)
    train, valid = train_valid_split(data, 0.2, seed=0)
    assert isinstance(train, SyntheticDataset) and len(valid) == 600
    rows = valid.frame.index.to_numpy()
    np.testing.assert_array_equal(valid.probability, data.probability[rows])
    np.testing.assert_array_equal(valid.labels, valid.frame["label"].to_numpy())
    assert isinstance(valid.planted_auc, float)
    sequences = make_behavior_sequences(500, seed=1)
    _, part = train_valid_split(sequences, 0.5, seed=0)
    rows = part.frame.index.to_numpy()
    np.testing.assert_array_equal(part.sequences["hist_item_id"], sequences.sequences["hist_item_id"][rows])

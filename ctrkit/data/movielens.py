"""MovieLens-like ratings drawn from a planted ordinal rating model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ._common import (
    calibrate_intercept,
    categorical_cdf,
    check_rows,
    draw_categorical,
    draw_from_cdf,
    model_rng,
    sigmoid,
    string_column,
)
from .dataset import SyntheticDataset

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
MOVIELENS_COLUMNS = (
    "user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender", "age",
    "occupation", "zip",
)
MOVIELENS_SPARSE_FEATURES = ("movie_id", "user_id", "gender", "age", "occupation", "zip")
MAX_GENRES = 5

_N_USERS, _N_MOVIES = 6_040, 3_952
_AGES = np.array([1, 18, 25, 35, 45, 50, 56])
_AGE_PROBABILITIES = (0.037, 0.183, 0.347, 0.197, 0.091, 0.082, 0.063)
_OCCUPATION_PROBABILITIES = (
    0.131, 0.087, 0.044, 0.029, 0.125, 0.019, 0.038, 0.11, 0.003, 0.015, 0.032,
    0.021, 0.06, 0.023, 0.05, 0.024, 0.04, 0.08, 0.011, 0.012, 0.046,
)
_GENRE_PROBABILITIES = (
    0.11, 0.06, 0.03, 0.05, 0.2, 0.05, 0.02, 0.25, 0.01, 0.01, 0.06, 0.02, 0.02,
    0.04, 0.04, 0.05, 0.02, 0.01,
)
# Share of ratings 1..5 in MovieLens-1M.
_RATING_SHARES = (0.056, 0.108, 0.261, 0.349, 0.226)
_FIRST_TIMESTAMP, _LAST_TIMESTAMP = 956_703_932, 1_046_454_590
_TITLE_WORDS = (
    ("Silent", "Last", "Dark", "Lost", "Golden", "Broken", "Secret", "Little", "Wild",
     "Midnight", "Crimson", "Hidden", "Final", "Eternal", "Frozen", "Burning", "Empty",
     "Distant", "Bright", "Iron", "Restless", "Velvet", "Quiet", "Endless"),
    ("River", "Garden", "Kingdom", "Summer", "Road", "Island", "Promise", "Shadow", "Heart",
     "City", "Storm", "Mirror", "Letter", "Journey", "Game", "Star", "Winter", "Dream",
     "Bridge", "Harbor", "Valley", "Stranger", "Season", "Circus"),
)
_FACTOR_RANK = 3
_CALIBRATION_ROWS = 1 << 15


@dataclass
class _MovieLensModel:
    gender: np.ndarray
    age: np.ndarray
    occupation: np.ndarray
    zip_codes: np.ndarray
    user_cdf: np.ndarray
    genre_codes: np.ndarray
    genre_counts: np.ndarray
    titles: np.ndarray
    movie_cdf: np.ndarray
    user_bias: np.ndarray
    movie_bias: np.ndarray
    user_factors: np.ndarray
    movie_factors: np.ndarray
    genre_by_gender: np.ndarray
    genre_by_age: np.ndarray
    cutpoints: np.ndarray = None

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return draw_from_cdf(rng, self.user_cdf, n), draw_from_cdf(rng, self.movie_cdf, n)

    def score(self, user: np.ndarray, movie: np.ndarray) -> np.ndarray:
        """The latent appeal of `movie` to `user`: higher means higher ratings."""
        s = self.user_bias[user] + self.movie_bias[movie]
        s += np.einsum("ij,ij->i", self.user_factors[user], self.movie_factors[movie])
        # Genre tastes by gender and age, averaged over the movie's genres.
        genres = self.genre_codes[movie]
        valid = genres >= 0
        safe = np.where(valid, genres, 0)
        taste = self.genre_by_gender[safe, self.gender[user][:, None]]
        taste += self.genre_by_age[safe, self.age[user][:, None]]
        s += (taste * valid).sum(axis=1) / self.genre_counts[movie]
        return s

    def rating_probabilities(self, score: np.ndarray) -> np.ndarray:
        """P(rating = 1..5) per row, shape (n, 5): an ordinal logit model."""
        at_most = sigmoid(self.cutpoints[None, :] - score[:, None])
        at_most = np.concatenate([np.zeros((score.size, 1)), at_most, np.ones((score.size, 1))], axis=1)
        return np.diff(at_most, axis=1)


def _titles(rng: np.random.Generator, n: int) -> np.ndarray:
    first, second = _TITLE_WORDS
    years = np.clip(np.round(2000 - rng.exponential(14.0, n)), 1919, 2000).astype(int)
    out = []
    for i in range(n):
        name = f"{first[rng.integers(len(first))]} {second[rng.integers(len(second))]}"
        if rng.random() < 0.05:
            name += " 2"
        if rng.random() < 0.25:
            name += ", The"
        out.append(f"{name} ({years[i]})")
    return np.array(out, dtype=object)


@lru_cache(maxsize=8)
def _movielens_model(model_seed: int, signal_strength: float) -> _MovieLensModel:
    rng = model_rng(model_seed, "movielens")
    s = signal_strength
    zip_numbers = rng.integers(1_000, 99_999, _N_USERS)
    zip_codes = np.array([f"{z:05d}" for z in zip_numbers], dtype=object)
    extended = rng.random(_N_USERS) < 0.03
    zip_codes[extended] = [f"{z}-{e:04d}" for z, e in zip(zip_codes[extended], rng.integers(0, 10_000, extended.sum()))]
    # Movies: one main genre and up to four more, kept in the canonical order.
    n_genres = np.minimum(1 + rng.poisson(0.7, _N_MOVIES), MAX_GENRES)
    genre_codes = np.full((_N_MOVIES, MAX_GENRES), -1)
    genre_p = np.asarray(_GENRE_PROBABILITIES) / np.sum(_GENRE_PROBABILITIES)
    for m in range(_N_MOVIES):
        genre_codes[m, : n_genres[m]] = np.sort(rng.choice(len(GENRES), n_genres[m], replace=False, p=genre_p))
    model = _MovieLensModel(
        gender=(rng.random(_N_USERS) < 0.717).astype(np.int64),  # 1 = M
        age=draw_categorical(rng, _AGE_PROBABILITIES, _N_USERS),
        occupation=draw_categorical(rng, _OCCUPATION_PROBABILITIES, _N_USERS),
        zip_codes=zip_codes,
        user_cdf=categorical_cdf(rng.lognormal(0.0, 1.0, _N_USERS)),
        genre_codes=genre_codes,
        genre_counts=n_genres,
        titles=_titles(rng, _N_MOVIES),
        movie_cdf=categorical_cdf(rng.lognormal(0.0, 1.5, _N_MOVIES)),
        user_bias=rng.normal(0.0, 0.6 * s, _N_USERS),
        movie_bias=rng.normal(0.0, 0.8 * s, _N_MOVIES),
        user_factors=rng.normal(0.0, 0.6 * np.sqrt(s), (_N_USERS, _FACTOR_RANK)),
        movie_factors=rng.normal(0.0, 0.6 * np.sqrt(s), (_N_MOVIES, _FACTOR_RANK)),
        genre_by_gender=rng.normal(0.0, 0.3 * s, (len(GENRES), 2)),
        genre_by_age=rng.normal(0.0, 0.3 * s, (len(GENRES), _AGES.size)),
    )
    score = model.score(*model.draw(model_rng(model_seed, "movielens-calibration"), _CALIBRATION_ROWS))
    shares = np.cumsum(_RATING_SHARES)[:-1]
    model.cutpoints = np.array([calibrate_intercept(-score, share) for share in shares])
    return model


def make_movielens(
    n_rows: int, seed: int = 0, *, model_seed: int = 0, signal_strength: float = 1.0
) -> SyntheticDataset:
    """MovieLens-like ratings with the columns and formats of `movielens_sample.txt`.

    Columns: `user_id` (1..6040), `movie_id` (1..3952), `rating` (1..5),
    `timestamp` (Unix seconds, 2000-2003), `title` ("Name (YEAR)", with
    ", The" and commas as in the real titles), `genres` (1 to 5 of the 18
    MovieLens genres joined by '|'), `gender` ('M'/'F'), `age` (1, 18, 25, 35,
    45, 50, 56), `occupation` (0..20), `zip` (text: "02139" or "02139-1234").
    Users and movies keep their attributes across rows; some are far more
    active or popular than others.

    The planted model: a user's appeal score for a movie is user bias + movie
    bias + a rank-3 user-movie factor product + genre tastes by gender and by
    age; the rating is drawn from an ordinal logit on that score, with cut
    points calibrated to MovieLens' rating shares (ratings 4 and 5 make about
    57%). `probability` is P(rating >= 4) and `labels` is `rating >= 4`, for
    binary use; `extras["expected_rating"]` is the planted mean rating, the
    best regression prediction.

    Arguments:
        n_rows, seed, model_seed, signal_strength: as `make_criteo`.

    Returns:
        A `SyntheticDataset` with `target == ("rating",)`, `genres` also as
        padded genre ids (1..18, 0 padding) in `sequences["genres"]`.
    """
    n = check_rows(n_rows)
    if signal_strength < 0:
        raise ValueError(f"signal_strength must be >= 0, got {signal_strength!r}")
    model = _movielens_model(int(model_seed), float(signal_strength))
    rng = np.random.default_rng(seed)
    user, movie = model.draw(rng, n)
    rating_p = model.rating_probabilities(model.score(user, movie))
    cdf = np.cumsum(rating_p, axis=1)
    rating = 1 + np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), 4)
    # Most ratings come early in the range: a truncated exponential.
    span, scale = _LAST_TIMESTAMP - _FIRST_TIMESTAMP, 0.15 * (_LAST_TIMESTAMP - _FIRST_TIMESTAMP)
    offset = -scale * np.log1p(-rng.random(n) * -np.expm1(-span / scale))
    timestamp = _FIRST_TIMESTAMP + np.minimum(offset, span).astype(np.int64)

    genre_ids = np.where(model.genre_codes >= 0, model.genre_codes + 1, 0)
    genre_strings = np.array(["|".join(GENRES[g] for g in row if g >= 0) for row in model.genre_codes], dtype=object)
    frame = pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie + 1,
            "rating": rating.astype(np.int64),
            "timestamp": timestamp,
            "title": string_column(movie, model.titles),
            "genres": string_column(movie, genre_strings),
            "gender": string_column(model.gender[user], np.array(["F", "M"], dtype=object)),
            "age": _AGES[model.age[user]],
            "occupation": model.occupation[user],
            "zip": string_column(user, model.zip_codes),
        }
    )
    labels = (rating >= 4).astype(np.int64)
    return SyntheticDataset(
        frame=frame,
        probability=rating_p[:, 3:].sum(axis=1),
        labels=labels,
        target=("rating",),
        sparse_features=MOVIELENS_SPARSE_FEATURES,
        sequence_features=("genres",),
        sequences={"genres": genre_ids[movie].astype(np.int32)},
        extras={"expected_rating": rating_p @ np.arange(1.0, 6.0)},
    )

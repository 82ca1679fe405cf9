"""Data for CTR models: synthetic rows from planted models, and readers and
writers for the sample formats of DeepCTR's examples.

Generators return a `SyntheticDataset`: the rows (`frame`, formatted like the
matching sample file), the planted model's true probabilities and the best
achievable scores (`planted_auc`, `planted_logloss`).

    >>> from ctrkit.data import make_criteo, train_valid_split
    >>> train, valid = train_valid_split(make_criteo(200_000), 0.2, seed=0)
    >>> round(valid.planted_auc, 2)   # the target a model can approach
    0.78
"""

from .avazu import AVAZU_COLUMNS, AVAZU_SPARSE_FEATURES, make_avazu
from .behavior import make_behavior_sequences
from .census import (
    CENSUS_COLUMNS,
    CENSUS_DENSE_FEATURES,
    CENSUS_LABELS,
    CENSUS_SPARSE_FEATURES,
    make_census,
)
from .criteo import CRITEO_COLUMNS, CRITEO_DENSE_FEATURES, CRITEO_SPARSE_FEATURES, make_criteo
from .dataset import SyntheticDataset, train_valid_split
from .metrics import log_loss, roc_auc_score
from .movielens import GENRES, MOVIELENS_COLUMNS, MOVIELENS_SPARSE_FEATURES, make_movielens
from .readers import (
    census_labels,
    read_avazu,
    read_census,
    read_criteo,
    read_movielens,
    read_tfrecords,
    read_vocabulary,
    sample_data_dir,
    sample_file,
    sample_or_synthetic,
    write_avazu,
    write_census,
    write_criteo,
    write_movielens,
    write_tfrecords,
    write_vocabulary,
)

__all__ = [
    "AVAZU_COLUMNS",
    "AVAZU_SPARSE_FEATURES",
    "CENSUS_COLUMNS",
    "CENSUS_DENSE_FEATURES",
    "CENSUS_LABELS",
    "CENSUS_SPARSE_FEATURES",
    "CRITEO_COLUMNS",
    "CRITEO_DENSE_FEATURES",
    "CRITEO_SPARSE_FEATURES",
    "GENRES",
    "MOVIELENS_COLUMNS",
    "MOVIELENS_SPARSE_FEATURES",
    "SyntheticDataset",
    "census_labels",
    "log_loss",
    "make_avazu",
    "make_behavior_sequences",
    "make_census",
    "make_criteo",
    "make_movielens",
    "read_avazu",
    "read_census",
    "read_criteo",
    "read_movielens",
    "read_tfrecords",
    "read_vocabulary",
    "roc_auc_score",
    "sample_data_dir",
    "sample_file",
    "sample_or_synthetic",
    "train_valid_split",
    "write_avazu",
    "write_census",
    "write_criteo",
    "write_movielens",
    "write_tfrecords",
    "write_vocabulary",
]

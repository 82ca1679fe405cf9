"""DeepFEFMEstimator: the Deep Field-Embedded Factorization Machine as an estimator.

Reference: Pande H. Field-embedded factorization machines for click-through rate prediction. 2020. https://arxiv.org/abs/2009.09931
"""

from ..estimator import estimator_for

DeepFEFMEstimator = estimator_for(
    "DeepFEFM",
    without=("use_fefm", "exclude_feature_embed_in_dnn", "use_linear", "use_fefm_embed_in_dnn"),
    defaults={"dnn_hidden_units": (128, 128)},
)

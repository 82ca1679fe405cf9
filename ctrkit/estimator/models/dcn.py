"""DCNEstimator: the Deep & Cross Network as an estimator.

Reference: Wang R, Fu B, Fu G, et al. Deep & cross network for ad click predictions. ADKDD 2017. https://arxiv.org/abs/1708.05123
"""

from ..estimator import estimator_for

DCNEstimator = estimator_for("DCN", without=("cross_parameterization",))

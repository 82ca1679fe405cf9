"""FNNEstimator: the Factorization-supported Neural Network as an estimator.

Reference: Zhang W, Du T, Wang J. Deep learning over multi-field categorical data. ECIR 2016: 45-57. https://arxiv.org/abs/1601.02376
"""

from ..estimator import estimator_for

FNNEstimator = estimator_for("FNN")

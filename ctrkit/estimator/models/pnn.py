"""PNNEstimator: the Product-based Neural Network as an estimator.

Reference: Qu Y, Cai H, Ren K, et al. Product-based neural networks for user response prediction. ICDM 2016: 1149-1154. https://arxiv.org/abs/1611.00144
"""

from ..estimator import estimator_for

PNNEstimator = estimator_for("PNN")

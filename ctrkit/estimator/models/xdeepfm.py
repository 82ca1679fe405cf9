"""xDeepFMEstimator: the xDeepFM network as an estimator.

Reference: Lian J, Zhou X, Zhang F, et al. xDeepFM: combining explicit and implicit feature interactions for recommender systems. KDD 2018. https://arxiv.org/abs/1803.05170
"""

from ..estimator import estimator_for

xDeepFMEstimator = estimator_for("xDeepFM")

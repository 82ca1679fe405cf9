"""DeepFMEstimator: the DeepFM network as an estimator.

Reference: Guo H, Tang R, Ye Y, et al. DeepFM: a factorization-machine based neural network for CTR prediction. IJCAI 2017. https://arxiv.org/abs/1703.04247
"""

from ..estimator import estimator_for

DeepFMEstimator = estimator_for("DeepFM", without=("fm_group",))

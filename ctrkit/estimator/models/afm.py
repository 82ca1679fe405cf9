"""AFMEstimator: the Attentional Factorization Machine as an estimator.

Reference: Xiao J, Ye H, He X, et al. Attentional factorization machines: learning the weight of feature interactions via attention networks. IJCAI 2017. https://arxiv.org/abs/1708.04617
"""

from ..estimator import estimator_for

AFMEstimator = estimator_for("AFM", without=("fm_group",))

"""FwFMEstimator: the Field-weighted Factorization Machine as an estimator.

Reference: Pan J, Xu J, Ruiz A L, et al. Field-weighted factorization machines for click-through rate prediction in display advertising. WWW 2018. https://arxiv.org/abs/1806.03514
"""

from ..estimator import estimator_for

FwFMEstimator = estimator_for("FwFM", without=("fm_group",))

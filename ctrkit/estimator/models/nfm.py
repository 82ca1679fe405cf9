"""NFMEstimator: the Neural Factorization Machine as an estimator.

Reference: He X, Chua T S. Neural factorization machines for sparse predictive analytics. SIGIR 2017: 355-364. https://arxiv.org/abs/1708.05027
"""

from ..estimator import estimator_for

NFMEstimator = estimator_for("NFM")

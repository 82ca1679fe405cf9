"""CCPMEstimator: the Convolutional Click Prediction Model as an estimator.

Reference: Liu Q, Yu F, Wu S, et al. A convolutional click prediction model. CIKM 2015: 1743-1746.
"""

from ..estimator import estimator_for

CCPMEstimator = estimator_for("CCPM")

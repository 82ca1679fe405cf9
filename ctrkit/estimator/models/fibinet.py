"""FiBiNETEstimator: the Feature Importance and Bilinear feature Interaction NETwork as an estimator.

Reference: Huang T, Zhang Z, Zhang J. FiBiNET: combining feature importance and bilinear feature interaction for click-through rate prediction. RecSys 2019. https://arxiv.org/abs/1905.09433
"""

from ..estimator import estimator_for

FiBiNETEstimator = estimator_for("FiBiNET")

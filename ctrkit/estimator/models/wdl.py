"""WDLEstimator: the Wide & Deep Learning architecture as an estimator.

Reference: Cheng H T, Koc L, Harmsen J, et al. Wide & deep learning for recommender systems. DLRS 2016: 7-10. https://arxiv.org/abs/1606.07792
"""

from ..estimator import estimator_for

WDLEstimator = estimator_for("WDL")

"""AutoIntEstimator: the AutoInt network as an estimator.

Reference: Song W, Shi C, Xiao Z, et al. AutoInt: automatic feature interaction learning via self-attentive neural networks. CIKM 2019. https://arxiv.org/abs/1810.11921
"""

from ..estimator import estimator_for

AutoIntEstimator = estimator_for("AutoInt")

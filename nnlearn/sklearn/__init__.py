"""scikit-learn estimators over nnlearn's network, losses, optimizers and Trainer.

    >>> from nnlearn.sklearn import MLPClassifier, MLPRegressor

This sub-package imports scikit-learn (``pip install 'nnlearn[sklearn]'``); nothing else in
nnlearn does, so ``import nnlearn`` and the CLI work without it.
"""

from nnlearn.sklearn.estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]

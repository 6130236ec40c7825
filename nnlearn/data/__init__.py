"""Data: CSV files in, arrays out, and what is done to the arrays before training.

``read_csv`` (in :mod:`~nnlearn.data.reader`) turns a file into a :class:`Table`;
:class:`FeatureEncoder` (:mod:`~nnlearn.data.encode`) fills in missing values and one-hot
encodes categorical columns; the rest (:mod:`~nnlearn.data.prepare`) encodes labels,
standardises features and splits rows.
"""

from nnlearn.data.encode import FeatureEncoder
from nnlearn.data.prepare import (
    MAX_CLASSES_FOR_INTEGER_TARGET,
    LabelEncoder,
    Standardizer,
    class_weights_balanced,
    infer_task,
    minibatches,
    regression_targets,
    split_indices,
)
from nnlearn.data.reader import Table, read_csv

__all__ = [
    "MAX_CLASSES_FOR_INTEGER_TARGET",
    "FeatureEncoder",
    "LabelEncoder",
    "Standardizer",
    "Table",
    "class_weights_balanced",
    "infer_task",
    "minibatches",
    "read_csv",
    "regression_targets",
    "split_indices",
]

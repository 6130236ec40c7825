"""Data: a CSV file into a Table (``reader``), missing values and categorical columns
(``encode``), then targets, scaling and splits (``prepare``)."""

from nnlearn.data.encode import FeatureEncoder
from nnlearn.data.prepare import (
    MAX_CLASSES_FOR_INTEGER_TARGET,
    LabelEncoder,
    Standardizer,
    class_weights_balanced,
    infer_task,
    regression_targets,
    split_indices,
)
from nnlearn.data.reader import Table, read_csv

__all__ = ["MAX_CLASSES_FOR_INTEGER_TARGET", "FeatureEncoder", "LabelEncoder", "Standardizer",
           "Table", "class_weights_balanced", "infer_task", "read_csv",
           "regression_targets", "split_indices"]

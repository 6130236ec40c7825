"""A trained model as users meet it: the network plus everything needed to use it on raw CSV
columns — feature names and order, their encoding (missing values, one-hot categories), the
standardisation fitted on the training split, the class names, and the loss (whose output
function turns scores into probabilities)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlearn import __version__
from nnlearn.data import FeatureEncoder, LabelEncoder, Standardizer, Table
from nnlearn.nn.losses import Loss, make_loss
from nnlearn.nn.network import Sequential

FORMAT = "nnlearn-model"
FORMAT_VERSION = 1


class Model:
    """``network`` maps standardised features to raw scores; ``predict`` maps encoded features
    (``encode(table)``: numeric columns and one-hot categories, before standardisation) to
    class names (classification) or values in the target's own units (regression).

    ``feature_names`` are the CSV columns the model reads; ``encoding`` (None in model files
    written before categorical columns existed: then the columns are the inputs) turns them
    into the network's inputs."""

    def __init__(
        self,
        network: Sequential,
        *,
        task: str,
        loss_name: str,
        feature_names: list[str],
        target: str | None,
        encoder: LabelEncoder | None = None,
        scaler: Standardizer | None = None,
        target_scaler: Standardizer | None = None,
        encoding: FeatureEncoder | None = None,
    ) -> None:
        self.network = network
        self.task = task
        self.loss_name = loss_name
        self.loss: Loss = make_loss(loss_name)
        self.feature_names = list(feature_names)
        self.target = target
        self.encoder = encoder
        self.scaler = scaler
        self.target_scaler = target_scaler
        self.encoding = encoding

    @property
    def classes(self) -> list[str] | None:
        return None if self.encoder is None else list(self.encoder.classes_)

    # -- the pipeline: CSV columns -> encoded -> network inputs -> scores -> predictions -------
    def read_options(self) -> dict[str, Any]:
        """The ``read_csv`` arguments that read this model's columns from a CSV file."""
        enc = self.encoding
        return {"features": self.feature_names,
                "categorical": [] if enc is None else enc.categorical,
                "allow_missing": enc is not None and enc.missing == "mean", "for_model": True}

    def encode(self, table: Table) -> np.ndarray:
        """A table read with ``read_options()`` -> (n, inputs) encoded features."""
        return table.X if self.encoding is None else self.encoding.transform(table)

    @property
    def input_names(self) -> list[str]:
        """The name of every network input: the feature columns, or their encoded names (one
        ``level=high`` per category of a one-hot column) when the model encodes its columns."""
        return list(self.feature_names) if self.encoding is None else list(self.encoding.names)

    def input_name(self, j: int) -> str:
        """The CSV column network input ``j`` comes from."""
        return self.feature_names[j] if self.encoding is None else self.encoding.source(j)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Encoded feature matrix (n, d) -> what the network reads: standardised, in its dtype."""
        if self.scaler is not None:
            X = self.scaler.transform(X)
        return np.ascontiguousarray(X, dtype=self.network.dtype)

    def scores(self, X: np.ndarray) -> np.ndarray:
        return self.network.predict(self.inputs(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities (classification only)."""
        return self.loss.output(self.scores(X))

    def predict_indices(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def predict_values(self, X: np.ndarray) -> np.ndarray:
        """(n, k) regression predictions in the target's own units."""
        out = self.scores(X).astype(np.float64)
        return self.target_scaler.inverse_transform(out) if self.target_scaler else out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class names, or regression values (n,) for a single target."""
        if self.task == "classification":
            return self.encoder.inverse_transform(self.predict_indices(X))
        return self.predict_values(X)[:, 0]

    # -- serialisable description -------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        from nnlearn.runs.plugins import plugins_of

        plugins = plugins_of([*(s["type"] for s in self.network.spec()), self.loss_name])
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "nnlearn_version": __version__,
            "architecture": self.network.spec(),
            "dtype": str(self.network.dtype),
            "task": self.task,
            "loss": self.loss_name,
            "target": self.target,
            "feature_names": self.feature_names,
            "classes": self.classes,
            "label_encoder": None if self.encoder is None else self.encoder.to_dict(),
            "scaler": None if self.scaler is None else self.scaler.to_dict(),
            "target_scaler": None if self.target_scaler is None else self.target_scaler.to_dict(),
            "encoding": None if self.encoding is None else self.encoding.to_dict(),
            # names from --plugin files, {name: file name}; absent when there are none
            **({"plugins": plugins} if plugins else {}),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], network: Sequential) -> Model:
        return cls(
            network,
            task=meta["task"],
            loss_name=meta["loss"],
            feature_names=list(meta["feature_names"]),
            target=meta.get("target"),
            encoder=None if meta.get("label_encoder") is None
            else LabelEncoder.from_dict(meta["label_encoder"]),
            scaler=None if meta.get("scaler") is None else Standardizer.from_dict(meta["scaler"]),
            target_scaler=None if meta.get("target_scaler") is None
            else Standardizer.from_dict(meta["target_scaler"]),
            encoding=None if meta.get("encoding") is None
            else FeatureEncoder.from_dict(meta["encoding"]),
        )

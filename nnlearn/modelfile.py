"""Model files: one ``.npz`` holding only numeric arrays, plus the metadata as JSON text stored in
a uint8 array. Loading uses ``allow_pickle=False`` and reads every array eagerly, so a file can
never run code, and every way a load can fail is reported as one ``ModelFileError``.

Keys: ``meta.json`` (metadata), ``param/<name>`` (weights, e.g. ``param/dense_1.W``), and in
checkpoints also ``optim/<key>`` (optimizer state) and ``state/<key>`` (other training state).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn import atomicio
from nnlearn.errors import ModelFileError, NnlearnError
from nnlearn.model import FORMAT, FORMAT_VERSION, Model
from nnlearn.network import Sequential

META_KEY = "meta.json"


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write ``arrays`` and ``meta`` (JSON-able) to ``path`` (.npz)."""
    payload = {META_KEY: np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{key}: only numeric arrays are saved, got {value.dtype}")
        payload[key] = value
    atomicio.write_with(path, lambda f: np.savez(f, **payload))


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read every array and the metadata; any failure becomes ModelFileError."""
    path = Path(path)
    invalid = f"{path}: not a valid nnlearn model file"
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, expected a model file (.npz)")
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: np.array(f[key]) for key in f.files}  # eager: nothing read later
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError,
            json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise ModelFileError(f"{invalid} ({type(exc).__name__}: {exc})"[:300]) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(invalid)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {meta.get('format_version')!r} is not "
                             f"supported (this nnlearn reads version {FORMAT_VERSION})")
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ModelFileError(f"{invalid} (array {key!r} is not numeric)")
    return arrays, meta


def params_from_arrays(arrays: dict[str, np.ndarray], prefix: str = "param/") -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def save_model(path: str | os.PathLike, model: Model, *, extra_arrays: dict[str, np.ndarray] | None = None,
               extra_meta: dict[str, Any] | None = None) -> None:
    weights = model.network.get_weights()
    for name, value in weights.items():
        if not np.all(np.isfinite(value)):  # never write a model with NaN/inf weights
            raise ValueError(f"refusing to save non-finite weights ({name})")
    arrays = {f"param/{name}": value for name, value in weights.items()}
    arrays.update(extra_arrays or {})
    meta = model.metadata()
    meta.update(extra_meta or {})
    save_arrays(path, arrays, meta)


def model_from_arrays(path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Model:
    invalid = f"{path}: not a valid nnlearn model file"
    try:
        dtype = np.dtype(meta["dtype"])
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"unsupported dtype {dtype}")
        network = Sequential.from_spec(meta["architecture"], dtype=dtype)
        weights = params_from_arrays(arrays)
        for p in network.parameters():
            if p.name not in weights:
                raise ValueError(f"missing array {p.name!r}")
            if weights[p.name].shape != p.value.shape:
                raise ValueError(f"array {p.name!r} has shape {weights[p.name].shape}, "
                                 f"the architecture says {p.value.shape}")
            if not np.all(np.isfinite(weights[p.name])):
                raise ValueError(f"array {p.name!r} holds non-finite values")
        network.set_weights(weights)
        model = Model.from_metadata(meta, network)
        if network.n_inputs != len(model.feature_names):
            raise ValueError("feature names do not match the input width")
    except ModelFileError:
        raise
    except (NnlearnError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # any inconsistency in a file we did not write is the file's fault, not a bug
        raise ModelFileError(f"{invalid} ({exc})"[:300]) from None
    return model


def load_model(path: str | os.PathLike) -> Model:
    arrays, meta = load_arrays(path)
    return model_from_arrays(path, arrays, meta)

"""Model files: one ``.npz`` holding only numeric arrays, plus the metadata as JSON text stored in
a uint8 array. Loading uses ``allow_pickle=False`` and reads every array eagerly, so a file can
never run code, and every way a load can fail is reported as one ``ModelFileError``.

Keys: ``meta.json`` (metadata), ``param/<name>`` (weights, e.g. ``param/dense_1.W``), and in
checkpoints also ``optim/<key>`` (optimizer state) and ``state/<key>`` (other training state).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.errors import ModelFileError, NnlearnError
from nnlearn.nn.activations import ACTIVATIONS
from nnlearn.nn.layers import Dense, Dropout, Layer
from nnlearn.nn.network import Sequential
from nnlearn.runs import atomicio
from nnlearn.runs.model import FORMAT, FORMAT_VERSION, Model
from nnlearn.runs.plugins import check_names

META_KEY = "meta.json"


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write ``arrays`` and ``meta`` (JSON-able) to ``path`` (.npz)."""
    payload = {META_KEY: np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{key}: only numeric arrays are saved, got {value.dtype}")
        payload[key] = value
    atomicio.write_with(path, lambda f: _write_npz(f, payload))


def _write_npz(f: Any, payload: dict[str, np.ndarray]) -> None:
    """What ``np.savez`` writes (one ``.npy`` member per array, uncompressed), with the zip
    closed even when Ctrl-C lands mid-write: an unclosed one complains at exit on some Pythons,
    and the half-written temporary file is discarded anyway."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in payload.items():
            with zf.open(f"{key}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


#: Uncompressed bytes a model file may declare per byte it holds (nnlearn writes members
#: uncompressed; deflate rarely packs float weights by more than 2x). A zip bomb declares
#: thousands; it is refused before anything is inflated.
MAX_EXPANSION = 16
MAX_MEMBERS = 100_000


def _param_shapes(spec: Any) -> dict[str, tuple[int, ...]]:
    """``{"dense_1.W": (in, out), "dense_1.b": (out,), ...}`` from the metadata's architecture,
    with every dense layer's widths checked as the config checks hidden widths."""
    from nnlearn.runs.config import check_layer_spec

    if not isinstance(spec, list) or not spec or len(spec) > MAX_MEMBERS:
        raise ValueError("the architecture is not a list of layers")
    shapes: dict[str, tuple[int, ...]] = {}
    for i, layer in enumerate(spec):
        check_layer_spec(layer, f"architecture[{i}]")
        if layer["type"] == "dense":
            shapes[f"{layer['name']}.W"] = (layer["in"], layer["out"])
            shapes[f"{layer['name']}.b"] = (layer["out"],)
        elif _is_plugin_layer(layer["type"]):  # the shapes its own constructor gives
            shapes.update(_plugin_shapes(layer))
    return shapes


def _is_plugin_layer(kind: Any) -> bool:
    from nnlearn.runs.extend import LAYERS

    return isinstance(kind, str) and kind in LAYERS


def _plugin_shapes(layer: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """{parameter name: shape} of a plugin layer, read from one built without a generator
    (``rng=None``: shapes only) -- nnlearn cannot know them otherwise. Its widths have been
    checked as a Dense layer's, and its code is the --plugin file the user chose to load."""
    from nnlearn.runs.extend import place_layer

    built = place_layer(layer, rng=None, dtype=np.float64)
    return {p.name: tuple(p.value.shape) for p in built.parameters()}


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                 shape: tuple[int, ...] | None, kinds: str) -> np.ndarray:
    """One ``.npy`` member, its header checked before the data is read: a dtype of ``kinds``,
    the ``shape`` expected (when given; -1 takes any length), and a declared size that matches
    the header (which bounds what a -1 can claim)."""
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            got, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            got, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"{info.filename}: .npy format version {version}")
        if dtype.hasobject or dtype.kind not in kinds or dtype.itemsize > 8 or dtype.fields:
            raise ValueError(f"{info.filename}: dtype {dtype} is not allowed here")
        if shape is not None and (len(got) != len(shape) or any(
                s not in (g, -1) for g, s in zip(got, shape))):
            raise ValueError(f"{info.filename}: shape {tuple(got)}, the architecture says "
                             f"{shape}")
        n_bytes = math.prod(got) * dtype.itemsize
        header = member.tell()
        if header + n_bytes != info.file_size:
            raise ValueError(f"{info.filename}: declares {info.file_size} bytes, its header "
                             f"says {header + n_bytes}")
        data = member.read()  # bounded by the declared size; reading to the end checks the CRC
    if len(data) != n_bytes:
        raise ValueError(f"{info.filename}: truncated")
    flat = np.frombuffer(data, dtype=dtype)
    return flat.reshape(got, order="F" if fortran else "C").copy()


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read the metadata, then every array, checking each member's declared shape and dtype
    against the metadata (and the sizes against the file's) before anything is allocated.
    Any failure becomes ModelFileError naming the file."""
    from nnlearn.runs import safeio

    path = Path(path)
    invalid = f"{path}: not a valid nnlearn model file"
    fd = safeio.open_regular(path, "model file", ModelFileError)
    try:
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if fh.read(2) != b"PK":  # not even the start of a model file's zip archive
                raise ModelFileError(f"{invalid} (not a zip archive, as model files are)",
                                     hint=_not_a_model_hint(path))
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                arrays, meta = _read_zip(path, zf, size)
    except NnlearnError:  # already says what is wrong (a damaged file, a missing --plugin)
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile and numpy raise anything on damaged input
        raise ModelFileError(f"{invalid} ({type(exc).__name__}: {exc})"[:300]) from None
    return arrays, meta


def _not_a_model_hint(path: Path) -> str | None:
    """What to give instead, when the file is plainly something else than a model."""
    if path.name in ("model.npz", "checkpoint.npz"):
        return None  # the right file, damaged (emptied, overwritten): nothing else to give
    if (path.parent / "model.npz").is_file():
        return f"give the run folder: {path.parent}"
    if path.suffix.lower() in (".yaml", ".yml"):
        return f"that is a config: train it first (nnlearn train {path}), then give its run folder"
    return "give a run folder (the last line nnlearn train prints) or the model.npz in it"


def _read_zip(path: Path, zf: zipfile.ZipFile, size: int
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from nnlearn.runs import safeio

    invalid = f"{path}: not a valid nnlearn model file"
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(infos) > MAX_MEMBERS or len(set(names)) != len(names) or \
            not all(n.endswith(".npy") for n in names):
        raise ModelFileError(f"{invalid} (its members are not a set of .npy arrays)")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_EXPANSION * size + 2**20:
        raise ModelFileError(f"{invalid} (its members declare {declared:,} bytes uncompressed "
                             f"in a file of {size:,} bytes)")
    by_key = {n[:-4]: i for n, i in zip(names, infos)}
    if META_KEY not in by_key:
        raise ModelFileError(f"{invalid} (no metadata)")
    if by_key[META_KEY].file_size > safeio.MAX_JSON_BYTES:
        raise ModelFileError(f"{invalid} (metadata of {by_key[META_KEY].file_size:,} bytes)")
    raw = _read_member(zf, by_key[META_KEY], None, "u")
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise ModelFileError(f"{invalid} (the metadata is not text)")
    meta = safeio.json_load(raw.tobytes(), "metadata",
                            lambda message: ModelFileError(f"{invalid} ({message})"[:300]))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(invalid)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {_short(meta.get('format_version'))} "
                             f"is not supported (this nnlearn reads version {FORMAT_VERSION})")
    # a plugin's layer types are unknown until its file is loaded: say which --plugin it needs
    check_names(meta.get("plugins"), os.fspath(path))
    try:
        shapes = _param_shapes(meta.get("architecture"))
    except (ValueError, NnlearnError) as exc:
        raise ModelFileError(f"{invalid} ({exc})"[:300]) from None
    arrays: dict[str, np.ndarray] = {}
    for key, info in by_key.items():
        if key == META_KEY:
            continue
        # weights, and optimizer and callback buffers of a checkpoint ("optim/m/dense_1.W",
        # "cb0/best/dense_1.W"), all have the shape of the parameter they belong to
        param = key.rsplit("/", 1)[-1]
        if param not in shapes:
            raise ModelFileError(f"{invalid} (array {key!r} belongs to no layer)")
        # weight snapshots ("snap/dense_1.W") stack the parameter over the snapshots taken
        shape = (-1, *shapes[param]) if key.startswith("snap/") else shapes[param]
        arrays[key] = _read_member(zf, info, shape, "f")
    return arrays, meta


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (int, float, str)) or value is None else \
        f"of type {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


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


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_architecture(spec: Any, weights: dict[str, np.ndarray]) -> None:
    """The layer list must be a chain of Dense layers (and plugin layers, whose parameter
    shapes their constructor gives) whose widths agree with each other and with the stored
    arrays -- checked BEFORE anything is allocated, so a file cannot make us
    build a network of 10**12 units, and every weight must be finite."""
    if not isinstance(spec, list) or not spec or not all(isinstance(s, dict) for s in spec):
        raise ValueError("the architecture is not a list of layers")
    width, names, expected = None, set(), set()
    for i, layer in enumerate(spec):
        kind = layer.get("type")
        if kind == "dense" or _is_plugin_layer(kind):  # the layers with weights and widths
            d_in, d_out, name = layer.get("in"), layer.get("out"), layer.get("name")
            if not (_is_count(d_in) and _is_count(d_out) and isinstance(name, str)):
                raise ValueError(f"layer {i} is not a valid {kind} layer: {layer}")
            if width is not None and d_in != width:
                raise ValueError(f"layer {i} ({name}) takes {d_in} inputs but gets {width}")
            if name in names:
                raise ValueError(f"two layers are named {name!r}")
            names.add(name)
            shapes = ({f"{name}.W": (d_in, d_out), f"{name}.b": (d_out,)} if kind == "dense"
                      else _plugin_shapes(layer))
            expected.update(shapes)
            for key, shape in shapes.items():
                if key not in weights:
                    raise ValueError(f"missing array {key!r}")
                if weights[key].shape != shape:
                    raise ValueError(f"array {key!r} has shape {weights[key].shape}, "
                                     f"the architecture says {shape}")
                if not np.all(np.isfinite(weights[key])):
                    raise ValueError(f"array {key!r} holds non-finite values")
            width = d_out
        elif "alpha" in layer and not (isinstance(layer["alpha"], (int, float))
                                       and math.isfinite(layer["alpha"])):
            raise ValueError(f"layer {i} ({kind}) has a non-finite alpha")
    if width is None:
        raise ValueError("the architecture has no dense layer")
    extra = sorted(set(weights) - expected)
    if extra:
        raise ValueError(f"unexpected arrays {extra[:5]}")


def _check_model(model: Model) -> None:
    """The metadata must describe a model that can be used: task, loss, classes and output
    width agree, and the feature list matches the input width."""
    net = model.network
    names = model.feature_names
    width = len(names) if model.encoding is None else model.encoding.width
    if width != net.n_inputs or len(set(names)) != len(names) or \
            not all(isinstance(n, str) for n in names):
        raise ValueError(f"{width} inputs from {len(names)} feature columns for a network of "
                         f"{net.n_inputs} inputs (or repeated names)")
    if model.encoding is not None and model.encoding.columns != names:
        raise ValueError("the feature encoding does not match the feature names")
    if model.scaler is not None and model.scaler.mean_.size != net.n_inputs:
        raise ValueError("the standardizer does not match the input width")
    if model.target is not None and not isinstance(model.target, str):
        raise ValueError("the target name is not a string")
    if model.task == "classification":
        if model.loss.task != "classification" or model.encoder is None:
            raise ValueError(f"a classification model with loss {model.loss_name!r} "
                             "or without classes")
        k = model.encoder.n_classes
        want = 1 if model.loss_name == "bce" else k
        if k < 2 or (model.loss_name == "bce" and k != 2) or net.n_outputs != want:
            raise ValueError(f"{k} classes with loss {model.loss_name!r} and "
                             f"{net.n_outputs} outputs")
    elif model.task == "regression":
        if model.loss.task != "regression" or net.n_outputs != 1:
            raise ValueError(f"a regression model with loss {model.loss_name!r} and "
                             f"{net.n_outputs} outputs")
        if model.target_scaler is not None and model.target_scaler.mean_.size != 1:
            raise ValueError("the target standardizer does not match the output width")
    else:
        raise ValueError(f"unknown task {model.task!r}")


def model_from_arrays(path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Model:
    """Build a Model from what ``load_arrays`` returned, checking every claim the file makes;
    any inconsistency raises ModelFileError("not a valid nnlearn model file (...)")."""
    invalid = f"{path}: not a valid nnlearn model file"
    check_names(meta.get("plugins"), os.fspath(path))  # before the unknown names are met
    try:
        dtype = np.dtype(meta["dtype"])
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"unsupported dtype {dtype}")
        weights = params_from_arrays(arrays)
        _check_architecture(meta["architecture"], weights)
        network = Sequential([layer_from_spec(dict(s), dtype=dtype)
                              for s in meta["architecture"]])
        network.set_weights(weights)
        model = Model.from_metadata(meta, network)
        _check_model(model)
    except ModelFileError:
        raise
    except (NnlearnError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            ArithmeticError, StopIteration) as exc:
        # any inconsistency in a file we did not write is the file's fault, not a bug
        raise ModelFileError(f"{invalid} ({exc})"[:300]) from None
    return model


def load_model(path: str | os.PathLike) -> Model:
    arrays, meta = load_arrays(path)
    return model_from_arrays(path, arrays, meta)


def layer_from_spec(spec: dict[str, Any], *, dtype: Any) -> Layer:
    """Rebuild a layer from its ``Layer.spec()`` (checked against the schema before this);
    Dense weights are zeros, to be overwritten by the saved ones."""
    kind = spec.get("type")
    if kind == "dense":
        return Dense(int(spec["in"]), int(spec["out"]), rng=None, init=spec.get("init", "he"),
                     dtype=dtype, name=str(spec.get("name", "dense")))
    if kind == "dropout":
        return Dropout(float(spec["rate"]))
    if _is_plugin_layer(kind):  # its --plugin file is loaded: check_names saw to it
        from nnlearn.runs.extend import place_layer

        return place_layer(spec, rng=None, dtype=dtype)
    if kind in ACTIVATIONS:
        if "alpha" in spec:
            return ACTIVATIONS[kind](alpha=float(spec["alpha"]))  # type: ignore[call-arg]
        return ACTIVATIONS[kind]()
    raise ValueError(f"unknown layer type {kind!r}")

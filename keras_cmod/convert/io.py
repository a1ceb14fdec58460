"""Reading PyTorch state dicts without depending on PyTorch.

A state dict is a flat mapping from parameter/buffer names to arrays. This
module turns the usual on-disk forms into `dict[str, numpy.ndarray]`:

| extension | reader |
|---|---|
| `.npz` | `numpy.load` (no pickles) |
| `.safetensors` | `safetensors` if installed, else `read_safetensors` |
| `.pth` `.pt` `.bin` `.ckpt` `.tar` | `torch.load(weights_only=True)` |

The own safetensors reader parses the format (8-byte little-endian header
length, JSON header, raw little-endian buffer); only PyTorch files need
PyTorch.

Training checkpoints that wrap the state dict (`{"state_dict": ...}`,
`{"net": ...}`, `{"model": ...}`, `{"model_state_dict": ...}`) are
unwrapped, and the `module.` prefix of `DataParallel` /
`DistributedDataParallel` models is stripped.
"""

import json
import os
import struct
import zipfile

import numpy as np

#: Keys under which training checkpoints store the model's state dict.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "net", "model")
#: Prefix added by torch.nn.DataParallel / DistributedDataParallel.
DDP_PREFIX = "module."
TORCH_EXTENSIONS = (".pth", ".pt", ".bin", ".ckpt", ".tar")

# safetensors dtype codes -> numpy dtypes (little-endian). BF16 is widened
# to float32 by hand (numpy has no bfloat16).
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
    "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2",
    "U8": "u1", "BOOL": "?",
}
_NP_TO_ST = {np.dtype(v).str.lstrip("<|"): k for k, v in _ST_DTYPES.items()}
#: Refuse absurd headers (the format caps them at 100 MB).
_MAX_HEADER = 100_000_000


def _to_numpy(value, key):
    """numpy array from a numpy array, a torch tensor or a scalar."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return np.asarray(value)
    raise ValueError(
        f"State dict entry {key!r} is not an array (got "
        f"{type(value).__name__}). Expected numpy arrays or torch tensors."
    )


def _is_array_like(value):
    return hasattr(value, "shape") and not isinstance(value, dict)


def unwrap_checkpoint(obj):
    """Returns the state dict inside a training checkpoint (or `obj`).

    A mapping whose values are all arrays is a state dict. Otherwise the
    first of `CHECKPOINT_KEYS` that holds a mapping is followed (repeatedly,
    for nested wrappers).

    Raises:
        ValueError: if no state dict is found.
    """
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        if obj and all(_is_array_like(v) for v in obj.values()):
            return obj
        inner = next(
            (obj[k] for k in CHECKPOINT_KEYS if isinstance(obj.get(k), dict)),
            None,
        )
        if inner is None:
            break
        obj = inner
    if isinstance(obj, dict) and obj and all(
        _is_array_like(v) for v in obj.values()
    ):
        return obj
    keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
    raise ValueError(
        "Could not find a state dict in the checkpoint: expected a mapping "
        "of names to arrays, or a checkpoint holding one under "
        f"{list(CHECKPOINT_KEYS)}. Found: {keys}"
    )


def normalize_state_dict(state_dict):
    """Unwraps a checkpoint, strips `module.` and converts to numpy.

    Args:
        state_dict: mapping of names to numpy arrays / torch tensors, or a
            checkpoint dict holding one (see `unwrap_checkpoint`).

    Returns:
        `dict[str, numpy.ndarray]`, in the input order.
    """
    state_dict = unwrap_checkpoint(state_dict)
    out = {}
    for key, value in state_dict.items():
        name = str(key)
        if name.startswith(DDP_PREFIX):
            name = name[len(DDP_PREFIX):]
        if name in out:
            raise ValueError(
                f"Duplicate key {name!r} after stripping the "
                f"{DDP_PREFIX!r} prefix."
            )
        out[name] = _check_values(_to_numpy(value, key), key)
    return out


def _check_values(array, key):
    """Refuses complex and non-finite tensors, naming them.

    The parameters and buffers of the converted models are real: a complex
    tensor is not reduced to its real part (its imaginary part would be
    lost silently), and NaN or infinite values would give a model that
    outputs NaN.
    """
    if np.iscomplexobj(array):
        raise ValueError(
            f"State dict entry {key!r} is complex ({array.dtype}); the "
            "parameters of these models are real, and dropping the "
            "imaginary part would change the model. Store real tensors "
            "(e.g. the real and imaginary parts as two entries)."
        )
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = array[~finite]
            raise ValueError(
                f"State dict entry {key!r} holds {bad.size} non-finite "
                f"value(s) (NaN or infinity, e.g. {bad.flat[0]!r}) among "
                f"{array.size}: refusing to import it."
            )
    return array


# -- safetensors ------------------------------------------------------------


def read_safetensors(path):
    """Reads a `.safetensors` file into `dict[str, numpy.ndarray]`.

    Uses the `safetensors` package when it is installed; otherwise parses
    the format directly: an unsigned little-endian 64-bit header size `N`,
    `N` bytes of JSON mapping each tensor name to `dtype`, `shape` and
    `data_offsets` (relative to the end of the header), then the data.

    Raises:
        ValueError: if the file is not valid safetensors or uses an
            unsupported dtype.
    """
    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        try:
            return dict(load_file(os.fspath(path)))
        except Exception:  # e.g. bfloat16, which numpy lacks
            pass  # the reader below handles it, or says what is wrong
    with open(path, "rb") as f:
        raw = f.read()
    return _parse_safetensors(raw, os.fspath(path))


def _parse_safetensors(raw, name):
    if len(raw) < 8:
        raise ValueError(f"{name!r} is not a safetensors file (too short).")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise ValueError(
            f"{name!r} is not a safetensors file (bad header size {n})."
        )
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{name!r} is not a safetensors file (bad JSON header: {exc})."
        ) from None
    if not isinstance(header, dict):
        raise ValueError(f"{name!r}: the safetensors header is not a dict.")
    data = memoryview(raw)[8 + n:]
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], [int(s) for s in info["shape"]]
            start, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{name!r}: malformed safetensors entry {key!r}: {info!r}"
            ) from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= start <= end <= len(data):
            raise ValueError(
                f"{name!r}: tensor {key!r} lies outside the file "
                f"(offsets {start}..{end}, data size {len(data)})."
            )
        buf = data[start:end]
        if dtype == "BF16":
            if len(buf) != 2 * count:
                raise ValueError(f"{name!r}: tensor {key!r} has a bad size.")
            bits = np.frombuffer(buf, "<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in _ST_DTYPES:
            dt = np.dtype(_ST_DTYPES[dtype])
            if len(buf) != dt.itemsize * count:
                raise ValueError(f"{name!r}: tensor {key!r} has a bad size.")
            arr = np.frombuffer(buf, dt).astype(dt.newbyteorder("="))
        else:
            raise ValueError(
                f"{name!r}: unsupported safetensors dtype {dtype!r} for "
                f"tensor {key!r}."
            )
        out[key] = arr.reshape(shape).copy()
    return out


def write_safetensors(path, tensors, metadata=None):
    """Writes `dict[str, array]` as a `.safetensors` file (no dependency).

    Args:
        path: output file.
        tensors: mapping of names to numpy arrays (numeric or bool dtypes).
        metadata: optional `dict[str, str]` stored under `__metadata__`.
    """
    header, chunks, offset = {}, [], 0
    for key, value in tensors.items():
        arr = np.ascontiguousarray(value)
        code = _NP_TO_ST.get(arr.dtype.str.lstrip("<>|="))
        if code is None:
            raise ValueError(
                f"Cannot store dtype {arr.dtype} of {key!r} in safetensors."
            )
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": code, "shape": list(arr.shape),
                       "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data on 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


# -- any source ---------------------------------------------------------------


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"Reading {os.fspath(path)!r} needs PyTorch (the `torch` "
            "package), which is not installed. Install it (`pip install "
            "torch`), or convert the checkpoint to .safetensors or .npz "
            "where PyTorch is available."
        ) from None
    try:
        return torch.load(os.fspath(path), map_location="cpu",
                          weights_only=True)
    except Exception as exc:  # unpickling errors are of many types
        raise ValueError(
            f"torch.load(weights_only=True) could not read "
            f"{os.fspath(path)!r}: {exc}. Only plain tensors and containers "
            "are accepted (no pickled classes): save "
            "`model.state_dict()` rather than the model object."
        ) from None


def _read_npz(path):
    try:
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):
            raise ValueError("a single array, not an .npz archive")
        with data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile,
            zipfile.LargeZipFile) as exc:
        raise ValueError(
            f"Cannot read the .npz file {path!r} (truncated or not an "
            f"archive of arrays): {type(exc).__name__}: {exc}"
        ) from None


def _check_torch_file(path):
    """A PyTorch file is a zip archive (since 1.6) or a pickle (legacy)."""
    with open(path, "rb") as f:
        head = f.read(2)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile) as exc:
            bad = f"{type(exc).__name__}: {exc}"
        if bad is None:
            return
        raise ValueError(
            f"The PyTorch file {path!r} is corrupt (archive member {bad})."
        )
    if len(head) == 2 and head[0] == 0x80:  # pickle protocol >= 2
        return
    raise ValueError(
        f"{path!r} is not a PyTorch checkpoint (neither a zip archive nor "
        "a pickle; truncated?). Expected a file saved with torch.save."
    )


def read_state_dict(source):
    """A state dict from a mapping or a file, as `dict[str, ndarray]`.

    Args:
        source: a mapping (state dict or checkpoint dict; numpy arrays or
            torch tensors), or a path to a `.npz`, `.safetensors` or
            `.pth`/`.pt`/`.bin`/`.ckpt`/`.tar` file.

    Returns:
        `dict[str, numpy.ndarray]` with the checkpoint unwrapped and the
        `module.` prefix removed.

    Raises:
        FileNotFoundError: if the path does not exist.
        ImportError: for a PyTorch file when `torch` is not installed.
        ValueError: unknown extension, or no state dict in the file.
    """
    if isinstance(source, dict):
        return normalize_state_dict(source)
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "state_dict must be a mapping of names to arrays or a path. "
            f"Received: {type(source).__name__}"
        )
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path!r}.")
    lower = path.lower()
    if lower.endswith(".npz"):
        raw = _read_npz(path)
    elif lower.endswith(".safetensors"):
        raw = read_safetensors(path)
    elif lower.endswith(TORCH_EXTENSIONS):
        _check_torch_file(path)
        raw = _read_torch(path)
    else:
        raise ValueError(
            f"Unknown checkpoint format {path!r}: expected .npz, "
            ".safetensors or a PyTorch file "
            f"({', '.join(TORCH_EXTENSIONS)})."
        )
    return normalize_state_dict(raw)

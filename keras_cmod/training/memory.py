"""Does one training step fit in memory? A cheap estimate, before the run.

A training step holds the batch's input and, for the gradient, the output
of every layer of the forward pass. `step_bytes` adds them up from the
built model's layer output shapes (per example, times the per-replica
batch). It is an estimate: gradients and workspace add to it, while some
layer outputs (reshapes, in-place updates) cost nothing.

`check_batch_fits` compares it with the memory available on the host
(`MemAvailable` of /proc/meminfo, the cgroup limit if lower) and refuses
only what surely cannot fit: an input batch larger than the available
memory, or (without an accelerator, when the activations live on the host
too) a step estimated at more than twice the available memory. An
accelerator's memory is not known before allocating on it; its failure
(TensorFlow's `ResourceExhaustedError`, or "Cannot parse tensor from
proto" when a tensor cannot be made) is translated by
`out_of_memory_error`.
"""

import math
import os
import re

__all__ = [
    "BatchMemoryError",
    "available_host_bytes",
    "check_batch_fits",
    "is_out_of_memory",
    "out_of_memory_error",
    "step_bytes",
]


class BatchMemoryError(ValueError, MemoryError):
    """The training batch does not fit in memory."""


def _gib(n):
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n / 1024:.1f} KiB"


def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_host_bytes():
    """Memory this process can still get on the host, or `None`."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES")
                         * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    # A container's limit (cgroup v2, then v1), when it is lower.
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
         "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 1 << 60:
            found.append(max(cap - used, 0))
            break
    return min(found) if found else None


def _elements(shape):
    dims = list(shape)[1:]
    if any(d is None for d in dims):
        return 0
    return math.prod(int(d) for d in dims)


def _outputs(layer):
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return []
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _activation_elements(model, seen=None):
    seen = set() if seen is None else seen
    total = 0
    for layer in getattr(model, "layers", []):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if getattr(layer, "layers", None):
            total += _activation_elements(layer, seen)
            continue
        for out in _outputs(layer):
            shape = getattr(out, "shape", None)
            if shape is not None:
                total += _elements(shape)
    return total


def step_bytes(model, per_replica_batch, dtype_bytes=4):
    """`(input bytes, activation bytes)` of one replica's batch.

    The input is float32 (the pipeline's output); activations count
    `dtype_bytes` per value (2 under mixed precision).
    """
    input_elements = sum(_elements(t.shape) for t in model.inputs)
    activations = _activation_elements(model)
    return (int(per_replica_batch) * input_elements * 4,
            int(per_replica_batch) * activations * int(dtype_bytes))


def _describe(batch_size, input_shape, input_bytes, activation_bytes,
              available=None):
    size = "x".join(str(d) for d in input_shape if d is not None)
    text = (f"batch_size={batch_size} (--batch-size) does not fit in "
            f"memory: one training step on {size} images needs about "
            f"{_gib(input_bytes + activation_bytes)} (input "
            f"{_gib(input_bytes)} + activations kept for the gradient "
            f"{_gib(activation_bytes)})")
    if available is not None:
        text += f", and {_gib(available)} is available"
    return text + (". Lower --batch-size (--grad-accum N keeps the "
                   "effective batch: N smaller batches per step).")


#: How far over the available memory an estimated step must be to be
#: refused before it runs (the estimate is not a bound).
_SURELY = 2


def check_batch_fits(model, batch_size, per_replica_batch, local_replicas,
                     on_accelerator, dtype_bytes=4, available=None):
    """Raises `BatchMemoryError` if a step surely cannot fit on the host.

    Args:
        model: the built model.
        batch_size: the global batch (for the message).
        per_replica_batch: examples per replica and pass.
        local_replicas: replicas of this process.
        on_accelerator: activations live on an accelerator (not checked).
        dtype_bytes: bytes per activation value.
        available: host bytes available (default: measured).

    Returns:
        `(input bytes, activation bytes, available)` per replica (for
        `out_of_memory_error`).
    """
    input_bytes, activation_bytes = step_bytes(model, per_replica_batch,
                                               dtype_bytes)
    available = available_host_bytes() if available is None else available
    if available is not None:
        inputs = input_bytes * local_replicas
        step = inputs + activation_bytes * local_replicas
        if inputs > available or (not on_accelerator
                                  and step > _SURELY * available):
            raise BatchMemoryError(_describe(
                batch_size, tuple(model.inputs[0].shape[1:]),
                input_bytes * local_replicas,
                activation_bytes * local_replicas, available))
    return input_bytes, activation_bytes, available


_OOM_TEXTS = ("Cannot parse tensor from proto", "OOM when allocating",
              "out of memory", "Out of memory", "ResourceExhausted")


def is_out_of_memory(err):
    """True for TensorFlow's ways of saying that memory ran out."""
    names = {c.__name__ for c in type(err).__mro__}
    if "ResourceExhaustedError" in names or isinstance(err, MemoryError):
        return True
    text = str(getattr(err, "message", None) or err)
    return any(t in text for t in _OOM_TEXTS)


def _tf_reason(err):
    """The part of TensorFlow's message that says what failed."""
    text = " ".join(str(getattr(err, "message", None) or err).split())
    for pattern in (r"OOM when allocating tensor with shape\S*(?: and type "
                    r"\w+)?", r"Cannot parse tensor from proto[^{]*"):
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()
    return text[:200]


def out_of_memory_error(err, model, batch_size, per_replica_batch,
                        dtype_bytes=4):
    """The `BatchMemoryError` of a TensorFlow out-of-memory failure."""
    input_bytes, activation_bytes = step_bytes(model, per_replica_batch,
                                               dtype_bytes)
    return BatchMemoryError(
        f"batch_size={batch_size} (--batch-size) does not fit in memory: "
        f"a training step ran out of memory (TensorFlow: "
        f"{type(err).__name__}: {_tf_reason(err)}). The model's layer "
        f"outputs alone take {_gib(input_bytes + activation_bytes)} per "
        f"replica at this batch. Lower --batch-size (--grad-accum N keeps "
        "the effective batch: N smaller batches per step)."
    )

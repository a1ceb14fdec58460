"""Small helpers shared by the keras-cmod layers (keras.ops only)."""

import keras
import numpy as np
from keras import ops


def normalize_pair(value, name):
    """Returns `(a, b)` from an int or a pair of ints, with validation."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    raise ValueError(
        f"{name} must be an int or a tuple of 2 ints. "
        f"Received: {name}={value!r}"
    )


def normalize_padding(value):
    """Explicit padding -> `((top, bottom), (left, right))`."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"padding must be >= 0. Received: padding={value}")
        return ((value, value), (value, value))
    try:
        (t, b), (left, r) = value
        out = ((int(t), int(b)), (int(left), int(r)))
    except (TypeError, ValueError):
        raise ValueError(
            "padding must be an int or ((top, bottom), (left, right)). "
            f"Received: padding={value!r}"
        ) from None
    if min(out[0] + out[1]) < 0:
        raise ValueError(f"padding must be >= 0. Received: padding={value!r}")
    return out


def pad_hw(x, padding, mode="constant"):
    """Pads the two spatial axes of an NHWC tensor."""
    (t, b), (left, r) = padding
    if t == b == left == r == 0:
        return x
    return ops.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), mode=mode)


def conv_output_size(size, kernel, stride, pad_total, dilation=1):
    """Output length of a "valid" convolution after explicit padding."""
    if size is None:
        return None
    eff = dilation * (kernel - 1) + 1
    return (size + pad_total - eff) // stride + 1


def round_half_even_half(d):
    """`round(d / 2)` with ties to even, for Python or tensor integers.

    torchvision's `center_crop` computes its offset with Python's `round`,
    which rounds halves to even: 57 -> 55 starts at 1, 28 -> 27 at 0.
    """
    k = d // 2
    return k + (d % 2) * (k % 2)


#: Default floor under `re^2 + im^2` in the modulus: far below float32
#: resolution of any output (it changes a modulus only below 1e-15), and
#: above float32's smallest normal number, so the gradient stays finite
#: (and zero) at an exact zero.
MODULUS_FLOOR = 1e-30


def check_modulus_epsilon(epsilon):
    """`None` -> `MODULUS_FLOOR`; a finite float >= 0, else ValueError."""
    if epsilon is None:
        return MODULUS_FLOOR
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise ValueError(
            "epsilon (floor under |z|^2 in the modulus) must be a float "
            f">= 0. Received: epsilon={epsilon!r}"
        )
    if not 0 <= float(epsilon) < float("inf"):
        raise ValueError(
            "epsilon (floor under |z|^2 in the modulus) must be a finite "
            f"float >= 0. Received: epsilon={epsilon!r}"
        )
    return float(epsilon)


def modulus(real, imag, epsilon=MODULUS_FLOOR):
    """`sqrt(max(re^2 + im^2, epsilon))` computed in float32.

    With the default floor (1e-30) the value is `sqrt(re^2 + im^2)` to
    float32 round-off (the reference's modulus, no epsilon) for every
    `|z| >= 1e-15`, and the gradient is finite everywhere (zero at an exact
    zero). The float32 computation avoids overflow of `re^2` under float16
    (|re| > 256) and underflow of the floor.
    """
    dtype = real.dtype
    real = ops.cast(real, "float32")
    imag = ops.cast(imag, "float32")
    out = ops.sqrt(ops.maximum(ops.square(real) + ops.square(imag), epsilon))
    if keras.backend.standardize_dtype(dtype) == "float32":
        return out
    return ops.cast(out, dtype)


def fresh_initializer(initializer):
    """A copy of `initializer` with a new seed.

    A Keras initializer instance returns the same values at every call, so
    weights of equal shapes built from one instance would start equal (the
    real and imaginary kernels of a CMod layer, say). Each weight gets its
    own copy; seeds then come from Keras' global seed, which
    `keras.utils.set_random_seed` makes reproducible.
    """
    config = initializer.get_config()
    if "seed" in config:
        config["seed"] = None
    return initializer.__class__.from_config(config)


# -- argument and input checks shared by the layers --------------------------


def check_int(value, name, minimum=None, maximum=None):
    """`value` as an int in `[minimum, maximum]`; the error names `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int. Received: {name}={value!r} "
            f"(of type {type(value).__name__})"
        )
    value = int(value)
    low = -np.inf if minimum is None else minimum
    high = np.inf if maximum is None else maximum
    if not low <= value <= high:
        allowed = (f">= {minimum}" if maximum is None
                   else f"in {minimum}..{maximum}")
        raise ValueError(f"{name} must be {allowed}. Received: {name}={value}")
    return value


def check_float(value, name, minimum=None, maximum=None,
                include_minimum=True, include_maximum=True):
    """`value` as a finite float within the bounds; the error names `name`.

    Strings are refused even when they spell a number (`"0.9"`), so a
    configuration typo is not silently accepted.
    """
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{name} must be a number. Received: {name}={value!r} "
            f"(of type {type(value).__name__})"
        )
    value = float(value)
    ok = np.isfinite(value)
    if ok and minimum is not None:
        ok = value >= minimum if include_minimum else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if include_maximum else value < maximum
    if not ok:
        left = "[" if include_minimum else "("
        right = "]" if include_maximum else ")"
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(
            f"{name} must be a finite number in {left}{low}, {high}{right}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_rank(input_shape, rank, layer_name):
    """Reject an input whose rank is not `rank` (e.g. 4 for NHWC)."""
    try:
        actual = len(input_shape)
    except TypeError:
        actual = None
    if actual != rank:
        raise ValueError(
            f"{layer_name} expects a rank-{rank} input "
            f"{'(batch, height, width, channels)' if rank == 4 else ''}"
            .rstrip()
            + f". Received: input_shape={input_shape!r}"
        )


def check_spatial(input_shape, min_size, layer_name):
    """Reject a known height or width below `min_size` (NHWC)."""
    for axis, name in ((1, "height"), (2, "width")):
        n = input_shape[axis]
        if n is not None and n < min_size:
            raise ValueError(
                f"{layer_name} needs a {name} of at least {min_size}. "
                f"Received: input_shape={tuple(input_shape)}"
            )


def check_defined_channels(input_shape, layer_name):
    """The channel axis must be known to build the weights."""
    if input_shape[-1] is None:
        raise ValueError(
            f"{layer_name}: the channel dimension must be defined. "
            f"Received: input_shape={tuple(input_shape)}"
        )


def float_input(inputs, dtype, layer_name):
    """Integer and boolean inputs cast to `dtype`; others must be floats.

    Images often arrive as uint8; a complex or string tensor is refused
    rather than reduced.
    """
    kind = keras.backend.standardize_dtype(inputs.dtype)
    if kind.startswith(("float", "bfloat")):
        return inputs
    if kind.startswith(("int", "uint", "bool")):
        return ops.cast(inputs, dtype)
    raise TypeError(
        f"{layer_name} expects a real (float or integer) input. "
        f"Received: dtype={kind}"
    )


def empty_batch_output(layer, inputs, dtype=None):
    """The output of a batch known to hold 0 images (its shape, no values),
    or `None` for any other batch.

    Kernel libraries disagree on empty tensors: oneDNN's convolutions return
    their input unchanged for a batch of 0, TensorFlow's `MirrorPad` refuses
    it, a batch norm would average nothing. So the layers answer an empty
    batch from their output shape before any kernel runs.
    """
    shape = getattr(inputs, "shape", None)
    if shape is None or not len(shape) or shape[0] != 0:
        return None
    return keras.tree.map_shape_structure(
        lambda out: ops.zeros((0,) + tuple(out[1:]),
                              dtype or layer.compute_dtype),
        layer.compute_output_shape(tuple(shape)))

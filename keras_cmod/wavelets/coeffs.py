"""Named one-dimensional wavelet filter sets shipped with keras-cmod.

The taps are Kingsbury's published DT-CWT filters (see `data/PROVENANCE.md`
and the root `NOTICE`). They are stored as flat float64 arrays under the key
names of the `dtcwt` package, so that cross-checks against it are direct.
"""

from importlib import resources

import numpy as np

QSHIFT_NAMES = ("qshift_a", "qshift_b", "qshift_c", "qshift_d")
BIORT_NAMES = ("near_sym_a", "near_sym_b")

_CACHE = {}


def _load(name, allowed):
    if name not in allowed:
        raise ValueError(
            f"Unknown filter set. Expected one of {list(allowed)}. "
            f"Received: name={name!r}"
        )
    if name not in _CACHE:
        path = resources.files("keras_cmod.wavelets") / "data" / f"{name}.npz"
        with resources.as_file(path) as fname, np.load(fname) as data:
            _CACHE[name] = {
                key: np.asarray(data[key], dtype=np.float64).copy()
                for key in data.files
            }
    # Hand out copies: callers may modify what they get.
    return {key: value.copy() for key, value in _CACHE[name].items()}


def qshift(name):
    """Returns a Q-shift filter set with the `dtcwt` key order.

    Args:
        name: str, one of `"qshift_a"` (10 taps), `"qshift_b"` (14),
            `"qshift_c"` (16) or `"qshift_d"` (18).

    Returns:
        A tuple `(h0a, h0b, g0a, g0b, h1a, h1b, g1a, g1b)` of 1-D float64
        arrays: analysis low-pass (tree a, tree b), synthesis low-pass,
        analysis high-pass, synthesis high-pass.

    Raises:
        ValueError: if `name` is not a known Q-shift set.
    """
    d = _load(name, QSHIFT_NAMES)
    keys = ("h0a", "h0b", "g0a", "g0b", "h1a", "h1b", "g1a", "g1b")
    return tuple(d[k] for k in keys)


def biort(name):
    """Returns a near-symmetric biorthogonal filter set (level-1 DT-CWT).

    Args:
        name: str, `"near_sym_a"` (5/7 taps) or `"near_sym_b"` (13/19).

    Returns:
        A tuple `(h0o, g0o, h1o, g1o)` of 1-D float64 arrays.

    Raises:
        ValueError: if `name` is not a known biorthogonal set.
    """
    d = _load(name, BIORT_NAMES)
    return tuple(d[k] for k in ("h0o", "g0o", "h1o", "g1o"))


def qshift_filters(name="qshift_a"):
    """Returns the Q-shift filters as the paper's reference code names them.

    The reference implementation of the twin models unpacks the `dtcwt` tuple
    as `hb, ha, _, _, gb, ga, _, _`, so that `ha = h0b`, `hb = h0a`,
    `ga = h1b` and `gb = h1a`. The arrays are used as *cross-correlation*
    kernels (no flip), e.g. `y[n] = sum_k x[n + k] * ha[k]`.

    | key | `dtcwt` name | role |
    |---|---|---|
    | `ha` | `h0b` | low-pass, tree a |
    | `hb` | `h0a` | low-pass, tree b (`ha` reversed) |
    | `ga` | `h1b` | high-pass, tree a |
    | `gb` | `h1a` | high-pass, tree b (`ga` reversed) |

    Args:
        name: str, a Q-shift set name, `"qshift_a"` by default (10 taps).

    Returns:
        A dict with float64 arrays under the keys `ha`, `hb`, `ga`, `gb`.

    Raises:
        ValueError: if `name` is not a known Q-shift set.

    Example:
    >>> f = keras_cmod.wavelets.qshift_filters("qshift_a")
    >>> round(float(f["ha"].sum()), 6)
    1.414214
    """
    h0a, h0b, _, _, h1a, h1b, _, _ = qshift(name)
    return {"ha": h0b, "hb": h0a, "ga": h1b, "gb": h1a}

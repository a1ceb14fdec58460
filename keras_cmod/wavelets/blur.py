"""Normalised binomial (Pascal-triangle) low-pass filters for blur pooling."""

import numpy as np

BLUR_SIZES = (1, 2, 3, 4, 5, 6, 7)


def binomial_filter(size):
    """Returns the normalised 1-D binomial filter with `size` taps.

    `size=3` gives `[1, 2, 1] / 4`; the 2-D blur kernel is the outer product
    of this filter with itself (Zhang, "Making Convolutional Networks
    Shift-Invariant Again", ICML 2019).

    Args:
        size: int in 1..7.

    Returns:
        A float64 array of shape `(size,)` summing to 1.

    Raises:
        ValueError: if `size` is not an integer in 1..7.
    """
    if isinstance(size, bool) or int(size) != size or size not in BLUR_SIZES:
        raise ValueError(
            f"Blur filter size must be an integer in 1..7. "
            f"Received: size={size!r}"
        )
    row = np.array([1.0])
    for _ in range(int(size) - 1):
        row = np.convolve(row, [1.0, 1.0])
    return row / row.sum()


def binomial_filter_2d(size):
    """Returns the `(size, size)` binomial blur kernel (sums to 1)."""
    f = binomial_filter(size)
    return np.outer(f, f)

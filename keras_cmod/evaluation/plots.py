"""Figures of the evaluation results, written as PNG files.

matplotlib is imported lazily inside each function, and figures are drawn
on matplotlib's Agg canvas (`matplotlib.figure.Figure` +
`FigureCanvasAgg`), so plotting never touches pyplot's global state or the
user's interactive backend. Each function returns the written path.
"""

import math
import os

import numpy as np

from keras_cmod.evaluation.shifts import DIRECTIONS


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi=100):
    # Atomic, with the umask's permissions: a failed save leaves nothing.
    from keras_cmod import _atomic

    path = os.fspath(path)
    with _atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def _check_mapping(values, name):
    if not isinstance(values, dict) or not values:
        raise ValueError(
            f"`{name}` must be a non-empty dict. Received: {values!r}"
        )


def plot_kl_curves(curves, path, shifts=None, title=None):
    """KL divergence vs shift of several models on one plot (paper Fig. 2).

    Args:
        curves: dict model name -> 1-D KL values (e.g. 17 values from
            `shift_metrics.kl_divergence_curve`).
        path: PNG destination.
        shifts: 1-D shift values in pixels; None gives `arange(n) / 2`
            (half-pixel steps, the paper's protocol).
        title: optional str.

    Returns:
        The written path (str).

    Raises:
        ValueError: for empty curves or curves of different lengths.
    """
    _check_mapping(curves, "curves")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) != 1 or next(iter(lengths))[0:1] == (0,) or any(
        a.ndim != 1 for a in arrays.values()
    ):
        raise ValueError(
            "All curves must be non-empty 1-D arrays of one length. "
            f"Received shapes: {sorted(lengths)}"
        )
    n = next(iter(arrays.values())).shape[0]
    x = np.arange(n) / 2.0 if shifts is None else np.asarray(shifts, float)
    if x.shape != (n,):
        raise ValueError(
            f"`shifts` must have {n} values. Received: shape={x.shape}"
        )
    fig = _figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    for name, y in arrays.items():
        ax.plot(x, y, marker="o", markersize=3, label=str(name))
    ax.set_xlabel("shift (pixels)")
    ax.set_ylabel("KL divergence (nats)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_flip_rates(rates, path, title=None):
    """Bar chart of the mean flip rate per direction, one group per model.

    Args:
        rates: dict model name -> dict direction -> mFR (percent), e.g. from
            `shift_metrics.mean_flip_rates` or `shift_metrics.PAPER_RAW_MFR`.
        path: PNG destination.
        title: optional str.

    Returns:
        The written path (str).

    Raises:
        ValueError: for empty rates or a model missing a direction.
    """
    _check_mapping(rates, "rates")
    for model, per_dir in rates.items():
        if not isinstance(per_dir, dict) or set(per_dir) != set(DIRECTIONS):
            raise ValueError(
                f"rates[{model!r}] must map each of {DIRECTIONS} to a mean "
                f"flip rate. Received: {per_dir!r}"
            )
    names = list(rates)
    width = 0.8 / len(DIRECTIONS)
    fig = _figure(max(4, 1.2 * len(names) + 2), 4)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    for i, d in enumerate(DIRECTIONS):
        ax.bar(x + (i - 1) * width, [float(rates[m][d]) for m in names],
               width, label=d)
    ax.set_xticks(x)
    ax.set_xticklabels([str(m) for m in names], rotation=30, ha="right")
    ax.set_ylabel("mean flip rate (%)")
    top = max(float(v) for per_dir in rates.values() for v in per_dir.values())
    ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)  # room for the legend
    ax.legend(loc="upper right", ncols=len(DIRECTIONS))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_first_layer_stability(stability, path, title=None):
    """Relative change vs shift of the RMax and CMod first-layer outputs.

    Args:
        stability: dict with `"shifts"`, `"rmax"` and `"cmod"` (as returned
            by `first_layer.first_layer_stability`).
        path: PNG destination.
        title: optional str.

    Returns:
        The written path (str).

    Raises:
        ValueError: if a key is missing or the lengths differ.
    """
    if not isinstance(stability, dict) or not {"shifts", "rmax", "cmod"} <= (
        set(stability)
    ):
        raise ValueError(
            "`stability` must be a dict with 'shifts', 'rmax' and 'cmod'. "
            f"Received keys: {sorted(stability) if isinstance(stability, dict) else stability!r}"  # noqa: E501
        )
    x = np.asarray(stability["shifts"], dtype=np.float64)
    fig = _figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    for key, label in (("rmax", "RMax"), ("cmod", "CMod")):
        y = np.asarray(
            [np.nan if v is None else v for v in stability[key]], float
        )
        if y.shape != x.shape or x.size == 0:
            raise ValueError(
                f"stability[{key!r}] must have one value per shift "
                f"({x.size}). Received: {y.shape}"
            )
        ax.plot(x, y, marker="o", label=label)
    ax.set_xlabel("input shift (pixels)")
    ax.set_ylabel("relative change of the output")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_kernel_grid(kernels, path, ncols=8, title=None):
    """Real part, modulus and log-spectrum of complex 2-D kernels.

    Each kernel gets a column; its three panels sit one above the other:
    the real part (diverging colour map, symmetric range), the modulus, and
    `log10(|FFT2| + 1e-8)` (zero-padded to at least 32 x 32) with the zero
    frequency centred (`fftshift`).
    More than `ncols` kernels wrap onto further bands of three rows.

    Args:
        kernels: complex array `(n, S, S)` (a real array is accepted).
        path: PNG destination.
        ncols: int >= 1, kernels per band. Defaults to 8.
        title: optional str.

    Returns:
        The written path (str).

    Raises:
        ValueError: if `kernels` is not a non-empty `(n, S, S)` array or
            `ncols` is not a positive int.
    """
    k = np.asarray(kernels)
    if k.ndim != 3 or min(k.shape) < 1:
        raise ValueError(
            "`kernels` must be a non-empty (n, S, S) array. Received: "
            f"shape={k.shape}"
        )
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"`ncols` must be a positive int. Received: {ncols}")
    k = k.astype(np.complex128)
    n = k.shape[0]
    cols = min(ncols, n)
    bands = math.ceil(n / cols)
    fig = _figure(1.3 * cols + 0.5, 1.3 * 3 * bands + 0.5)
    n_fft = max(32, k.shape[1], k.shape[2])  # zero-padded: smoother view
    spectrum = np.fft.fft2(k, s=(n_fft, n_fft))
    spectra = np.log10(np.abs(np.fft.fftshift(spectrum, axes=(1, 2))) + 1e-8)
    labels = ("real", "modulus", "log spectrum")
    for i in range(n):
        band, col = divmod(i, cols)
        real = k[i].real
        lim = float(np.max(np.abs(real))) or 1.0
        panels = (
            (real, "RdBu_r", -lim, lim),
            (np.abs(k[i]), "viridis", None, None),
            (spectra[i], "magma", None, None),
        )
        for row, (img, cmap, vmin, vmax) in enumerate(panels):
            ax = fig.add_subplot(3 * bands, cols, (3 * band + row) * cols
                                 + col + 1)
            ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(labels[row], fontsize=7)
            if row == 0:
                ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)

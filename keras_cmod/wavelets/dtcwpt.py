"""Dual-tree complex wavelet packet transform (DT-CWPT), in numpy.

The transform follows Bayram and Selesnick's dual-tree wavelet packets as
used by the twin models of Leterme et al. (EUSIPCO 2024):

* Four separable real filter banks `aa, ab, ba, bb` (vertical tree,
  horizontal tree) run on the same image. Each stage applies a vertical 1-D
  cross-correlation (low-pass, high-pass) then a horizontal one, so that a
  map has four children in the order (v-low, h-low), (v-low, h-high),
  (v-high, h-low), (v-high, h-high). At depth `J` the packet index is a
  base-4 number whose most significant digit is stage 1, with
  `digit = 2 * [vertical high-pass] + [horizontal high-pass]`.
* Stage 1 uses the tree-a Q-shift filters with a one-sample offset between
  the trees (each zero-padded to `len + 2` taps)::

      h1fs = [0, 0, ha]   g1fs = [ga, 0, 0]      (tree a)
      h2fs = [0, ha, 0]   g2fs = [0, -ga, 0]     (tree b)

* Later stages use the pair given by `NEXT_STAGE`: low-pass branches keep
  their tree (`h1 -> (ha, ga)`, `h2 -> (hb, gb)`, a stage-1 high-pass
  switches tree), and any high-pass branch continues with `(ha, ga)` in both
  trees (the packet rule).
* Complex packets: `psi_a = (d_aa - d_bb) + i (d_ba + d_ab)` and
  `psi_b = (d_aa + d_bb) + i (d_ba - d_ab)`; complex index `p` for `psi_a`
  and `4**J + p` for `psi_b`.
* Analytic step: a packet whose spectrum lies mostly at `omega_x < 0` is
  replaced by its complex conjugate. This is decided here by measuring each
  kernel's spectrum, for any depth.

All kernels are cross-correlation kernels indexed `[row, col]` (as `Conv2D`
uses them): `y[i, j] = sum_{a, b} x_pad[s*i + a, s*j + b] * K[a, b]`, where
`x_pad` is the input zero-padded by `dtcwpt_padding(depth, stride)`.
"""

import math

import numpy as np

from keras_cmod.wavelets.coeffs import qshift_filters

# Filter type of a branch -> (low-pass type, high-pass type) at the next stage.
NEXT_STAGE = {
    "h1fs": ("h1", "g1"),
    "g1fs": ("h2", "g2"),
    "h2fs": ("h2", "g2"),
    "g2fs": ("h1", "g1"),
    "h1": ("h1", "g1"),
    "h2": ("h2", "g2"),
    "g1": ("h", "g"),
    "g2": ("h", "g"),
    "h": ("h", "g"),
    "g": ("h", "g"),
}
# Stage-1 pair of each tree.
FIRST_STAGE = {0: ("h1fs", "g1fs"), 1: ("h2fs", "g2fs")}
# (vertical tree, horizontal tree) of the four real filter banks.
BANKS = ((0, 0), (0, 1), (1, 0), (1, 1))  # aa, ab, ba, bb


def _check_depth(depth):
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise ValueError(
            f"depth must be an integer >= 1. Received: depth={depth!r}"
        )
    if depth < 1:
        raise ValueError(f"depth must be >= 1. Received: depth={depth}")
    return int(depth)


def _check_stride(depth, stride):
    valid = [2**k for k in range(depth + 1)]
    if isinstance(stride, bool) or stride not in valid:
        raise ValueError(
            f"stride must be a power of two between 1 and 2**depth = "
            f"{2**depth} (allowed: {valid}). Received: stride={stride!r}"
        )
    return int(stride)


def filter_dict(wavelet="qshift_a"):
    """Returns every 1-D filter type of the transform, as float64 arrays.

    Keys: `h1fs g1fs h2fs g2fs` (stage 1, `len + 2` taps) and
    `h1 g1 h2 g2 h g` (later stages).
    """
    f = qshift_filters(wavelet)
    ha, hb, ga, gb = f["ha"], f["hb"], f["ga"], f["gb"]
    z = np.zeros(1)
    return {
        "h1fs": np.concatenate([z, z, ha]),
        "h2fs": np.concatenate([z, ha, z]),
        "g1fs": np.concatenate([ga, z, z]),
        "g2fs": np.concatenate([z, -ga, z]),
        "h1": ha,
        "h2": hb,
        "g1": ga,
        "g2": gb,
        "h": ha,
        "g": ga,
    }


def decimation_schedule(depth, stride):
    """Returns the per-stage strides and dilations for a total `stride`.

    The first `log2(stride)` stages are decimated (stride 2); the remaining
    stages are undecimated (stride 1), the dilation doubling after each
    undecimated stage (a trous algorithm).

    Args:
        depth: int >= 1, number of stages `J`.
        stride: int, a power of two in `1 .. 2**depth`.

    Returns:
        `(strides, dilations)`: two lists of `depth` ints.

    Example:
    >>> keras_cmod.wavelets.decimation_schedule(3, 2)
    ([2, 1, 1], [1, 1, 2])
    """
    depth = _check_depth(depth)
    stride = _check_stride(depth, stride)
    n_strided = int(round(math.log2(stride)))
    strides = [2] * n_strided + [1] * (depth - n_strided)
    dilations, dilation = [], 1
    for s in strides:
        dilations.append(dilation)
        if s == 1:
            dilation *= 2
    return strides, dilations


def dtcwpt_padding(depth, stride, wavelet="qshift_a"):
    """Zero padding (per side) used by the reference transform.

    Half the total receptive growth of the cascade, rounded down to an even
    number: 14 for `depth=2, stride=2` and 34 for `depth=3, stride=4` or 2.

    Args:
        depth: int >= 1.
        stride: int, a power of two in `1 .. 2**depth`.
        wavelet: str, Q-shift set name.

    Returns:
        int.
    """
    strides, dilations = decimation_schedule(depth, stride)
    sizes = stage_filter_sizes(depth, wavelet)
    total, prod = 0, 1
    for s, d, k in zip(strides, dilations, sizes):
        total += prod * (d * (k - 1) + 1 - s + 1)
        prod *= s
    return (total // 2) // 2 * 2


def stage_filter_sizes(depth, wavelet="qshift_a"):
    """Number of taps of the 1-D filters at each stage."""
    f = filter_dict(wavelet)
    depth = _check_depth(depth)
    return [len(f["h1fs"])] + [len(f["h1"])] * (depth - 1)


def kernel_size(depth, wavelet="qshift_a"):
    """Support of the equivalent kernels: `12 + 9 * (2**depth - 2)` taps."""
    sizes = stage_filter_sizes(depth, wavelet)
    return sizes[0] + sum((k - 1) * 2**j for j, k in enumerate(sizes) if j)


def branch_types(tree, digits):
    """Filter types along a 1-D branch of the packet tree.

    Args:
        tree: 0 (tree a) or 1 (tree b).
        digits: sequence of 0 (low-pass) / 1 (high-pass), stage 1 first.

    Returns:
        A list with the filter type applied at each stage.
    """
    types, pair = [], FIRST_STAGE[tree]
    for d in digits:
        t = pair[d]
        types.append(t)
        pair = NEXT_STAGE[t]
    return types


def packet_digits(index, depth):
    """Splits a real packet index (0 .. 4**depth - 1) into 1-D branches.

    Returns:
        `(vertical_digits, horizontal_digits)`, stage 1 first.
    """
    q = [(index // 4 ** (depth - 1 - j)) % 4 for j in range(depth)]
    return [d // 2 for d in q], [d % 2 for d in q]


def equivalent_filter_1d(tree, digits, wavelet="qshift_a"):
    """Equivalent cross-correlation filter of a fully decimated 1-D branch.

    Cascading `y1[n] = sum_k x[2n + k] f1[k]` and `y2[m] = sum_j y1[2m + j]
    f2[j]` gives one filter `f1 * up(f2, 2)` at stride 4, and so on: stage
    `j` (0-based) is upsampled by `2**j`. The result does not depend on the
    decimation schedule (only the output stride does).
    """
    f = filter_dict(wavelet)
    out = np.ones(1)
    for j, t in enumerate(branch_types(tree, digits)):
        taps = f[t]
        up = np.zeros((len(taps) - 1) * 2**j + 1)
        up[:: 2**j] = taps
        out = np.convolve(out, up)
    return out


def _real_kernels(depth, wavelet):
    """Returns `d[bank, packet]` 2-D real kernels, shape (4, 4**J, S, S)."""
    n = 4**depth
    size = kernel_size(depth, wavelet)
    out = np.zeros((4, n, size, size))
    cache = {}

    def branch(tree, digits):
        key = (tree, tuple(digits))
        if key not in cache:
            cache[key] = equivalent_filter_1d(tree, digits, wavelet)
        return cache[key]

    for b, (tv, th) in enumerate(BANKS):
        for p in range(n):
            vd, hd = packet_digits(p, depth)
            out[b, p] = np.outer(branch(tv, vd), branch(th, hd))
    return out


def dualtree_combination(depth):
    """Matrix mapping the four real banks to the complex packets.

    Returns:
        An array `C` of shape `(2 * 4**J, 2, 4, 4**J)` with entries in
        {-1, 0, 1} such that for complex packet `k`, part `r` (0 = real,
        1 = imaginary): `D[k, r] = sum_{b, p} C[k, r, b, p] d[b, p]`, before
        the analytic (conjugation) step.
    """
    n = 4**depth
    c = np.zeros((2 * n, 2, 4, n))
    aa, ab, ba, bb = 0, 1, 2, 3
    for p in range(n):
        c[p, 0, aa, p], c[p, 0, bb, p] = 1, -1  # psi_a real: aa - bb
        c[p, 1, ba, p], c[p, 1, ab, p] = 1, 1  # psi_a imag: ba + ab
        c[n + p, 0, aa, p], c[n + p, 0, bb, p] = 1, 1  # psi_b real: aa + bb
        c[n + p, 1, ba, p], c[n + p, 1, ab, p] = 1, -1  # psi_b imag: ba - ab
    return c


def _negative_frequency_energy(kernel, nfft=256):
    """Energies of the kernel's spectrum at omega_x < 0 and > 0."""
    spec = np.abs(np.fft.fft2(kernel, s=(nfft, nfft))) ** 2
    wx = np.fft.fftfreq(nfft)
    return spec[:, wx < 0].sum(), spec[:, wx > 0].sum()


def conjugation_mask(depth, wavelet="qshift_a"):
    """Which complex packets the analytic step conjugates.

    Measured, not tabulated: packet `k` is conjugated when the spectrum of
    its raw combination `psi` holds more energy at `omega_x < 0` than at
    `omega_x > 0` (`omega_x` = horizontal frequency, FFT of the kernel
    array).

    Returns:
        A bool array of shape `(2 * 4**depth,)`.
    """
    raw = _raw_complex_kernels(depth, wavelet)
    mask = np.zeros(len(raw), dtype=bool)
    for k, ker in enumerate(raw):
        neg, pos = _negative_frequency_energy(ker)
        mask[k] = neg > pos
    return mask


def _raw_complex_kernels(depth, wavelet):
    # psi_a = (aa - bb) + i (ba + ab), psi_b = (aa + bb) + i (ba - ab): the
    # sparse form of `dualtree_combination`.
    aa, ab, ba, bb = _real_kernels(depth, wavelet)
    psi_a = (aa - bb) + 1j * (ba + ab)
    psi_b = (aa + bb) + 1j * (ba - ab)
    return np.concatenate([psi_a, psi_b])


_KERNEL_CACHE = {}


def dtcwpt_kernels(depth, wavelet="qshift_a"):
    """Equivalent 2-D complex kernels of all packets of the DT-CWPT.

    These are the kernels of the fully decimated transform (stride
    `2**depth`) of a one-channel image, after the analytic step, in the
    reference order (`psi_a` packets 0..4**J-1, then `psi_b`), trimmed to
    their support `S = 12 + 9 * (2**depth - 2)` (30 for J = 2, 66 for J = 3).
    A transform with a smaller stride uses the same kernels at that stride.

    Args:
        depth: int >= 1.
        wavelet: str, Q-shift set name, `"qshift_a"` by default.

    Returns:
        complex128 array of shape `(2 * 4**depth, S, S)`; apply as
        `Re = x_pad (*) K.real`, `Im = x_pad (*) K.imag` (cross-correlation,
        no conjugation).

    Raises:
        ValueError: if `depth < 1` or `wavelet` is unknown.

    Example:
    >>> keras_cmod.wavelets.dtcwpt_kernels(2).shape
    (32, 30, 30)
    """
    depth = _check_depth(depth)
    key = (depth, wavelet)
    if key not in _KERNEL_CACHE:
        raw = _raw_complex_kernels(depth, wavelet)
        mask = np.array(
            [np.greater(*_negative_frequency_energy(k)) for k in raw]
        )
        raw[mask] = np.conj(raw[mask])
        _KERNEL_CACHE[key] = (raw, mask)
    return _KERNEL_CACHE[key][0].copy()


def peak_frequency(kernel, nfft=512):
    """Peak `(omega_x, omega_y)` of `|FFT(kernel)|`, in units of pi."""
    spec = np.abs(np.fft.fft2(kernel, s=(nfft, nfft)))
    iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
    f = np.fft.fftfreq(nfft) * 2
    return np.array([f[ix], f[iy]])


def dtcwpt_frequencies(depth, wavelet="qshift_a"):
    """Peak frequency of each complex packet, in units of pi.

    Returns:
        float64 array of shape `(2 * 4**depth, 2)` holding `(omega_x,
        omega_y)`; after the analytic step every `omega_x >= 0`.
    """
    return np.array([peak_frequency(k) for k in dtcwpt_kernels(depth, wavelet)])


def gabor_energy_ratio(kernel, window, nfft=256):
    """Fraction of a kernel's energy inside its best square Fourier window.

    `rho = max_w E(w) / E`, where `E(w)` is the spectral energy inside a
    `window x window` square (in units of pi, e.g. `0.25` for pi/4) placed
    anywhere on the periodic frequency plane. A Gabor-like kernel whose
    spectrum fits a `pi/m` window gives `rho` close to 1 (companion paper,
    Table 1).

    Args:
        kernel: 2-D real or complex array.
        window: float in (0, 2], side of the window in units of pi.
        nfft: int, FFT size (frequency resolution `2 / nfft` pi).

    Returns:
        float in [0, 1].

    Raises:
        ValueError: if `window` is outside (0, 2] or `kernel` is not 2-D.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(
            f"kernel must be a 2-D array. Received: shape={kernel.shape}"
        )
    if not 0 < window <= 2:
        raise ValueError(
            f"window must be in (0, 2] (units of pi). Received: window={window}"
        )
    spec = np.abs(np.fft.fft2(kernel, s=(nfft, nfft))) ** 2
    w = int(round(window / 2 * nfft))
    # Periodic box sums via cumulative sums on a wrapped copy.
    ext = np.concatenate([spec, spec[: w - 1]], axis=0)
    ext = np.concatenate([ext, ext[:, : w - 1]], axis=1)
    cs = np.zeros((ext.shape[0] + 1, ext.shape[1] + 1))
    cs[1:, 1:] = ext.cumsum(0).cumsum(1)
    box = cs[w:, w:] - cs[:-w, w:] - cs[w:, :-w] + cs[:-w, :-w]
    box = box[:nfft, :nfft]
    return float(box.max() / spec.sum())


class PacketSelection:
    """Packets kept by a twin first layer and how they are mixed.

    Attributes:
        depth: int, DT-CWPT depth.
        packets: tuple of complex packet indices, in mixing order.
        split_in: packets per section.
        split_out: output channels per section.
        groups: convolution groups per section.
        l1_penalty: lambda of the l1/l-inf selection penalty per section.
    """

    def __init__(self, depth, packets, split_in, split_out, groups,
                 l1_penalty):
        self.depth = depth
        self.packets = tuple(int(p) for p in packets)
        self.split_in = tuple(split_in)
        self.split_out = tuple(split_out)
        self.groups = tuple(groups)
        self.l1_penalty = tuple(float(v) for v in l1_penalty)
        if sum(self.split_in) != len(self.packets):
            raise ValueError("split_in must add up to the number of packets.")
        for k, n_out, g in zip(self.split_in, self.split_out, self.groups):
            if k % g or n_out % g:
                raise ValueError(
                    f"Sections must split evenly into groups. Received: "
                    f"split_in={k}, split_out={n_out}, groups={g}"
                )

    @property
    def filters(self):
        """Number of output (Gabor) channels."""
        return sum(self.split_out)

    def mixing_matrix_mask(self):
        """Bool mask `(len(packets), filters)` of the allowed connections."""
        mask = np.zeros((len(self.packets), self.filters), dtype=bool)
        i0 = o0 = 0
        for k, n_out, g in zip(self.split_in, self.split_out, self.groups):
            for gi in range(g):
                ki, li = k // g, n_out // g
                mask[i0 + gi * ki: i0 + (gi + 1) * ki,
                     o0 + gi * li: o0 + (gi + 1) * li] = True
            i0 += k
            o0 += n_out
        return mask

    def to_config(self):
        return {
            "depth": self.depth,
            "packets": list(self.packets),
            "split_in": list(self.split_in),
            "split_out": list(self.split_out),
            "groups": list(self.groups),
            "l1_penalty": list(self.l1_penalty),
        }


#: AlexNet twins (J = 3): 94 of 128 packets -> 32 Gabor channels.
ALEXNET_PACKETS = PacketSelection(
    depth=3,
    packets=[
        1, 2, 67, 65, 66, 3,
        4, 5, 70, 71, 8, 10, 73, 75, 76, 77, 78, 79,
        6, 7, 68, 69, 9, 11, 72, 74, 12, 13, 14, 15,
        17, 18, 20, 21, 24, 26, 80, 83, 86, 87, 89, 91, 92, 93, 94, 95,
        33, 34, 36, 37, 40, 42, 96, 99, 102, 103, 105, 107, 108, 109, 110,
        111,
        16, 19, 22, 23, 25, 27, 28, 29, 30, 31, 81, 82, 84, 85, 88, 90,
        32, 35, 38, 39, 41, 43, 44, 45, 46, 47, 97, 98, 100, 101, 104, 106,
    ],
    split_in=[6, 24, 64],
    split_out=[6, 18, 8],
    groups=[6, 6, 4],
    l1_penalty=[0.0, 4.1e-3, 3.2e-4],
)

#: ResNet twins (J = 2, "Ex"): 16 of 32 packets -> 24 Gabor channels.
RESNET_PACKETS = PacketSelection(
    depth=2,
    packets=[1, 2, 19, 17, 18, 3, 5, 23, 10, 27, 31, 7, 21, 11, 26, 15],
    split_in=[6, 4, 1, 4, 1],
    split_out=[12, 4, 2, 4, 2],
    groups=[6, 4, 1, 4, 1],
    l1_penalty=[0.0] * 5,
)

PACKET_SELECTIONS = {"alexnet": ALEXNET_PACKETS, "resnet": RESNET_PACKETS}

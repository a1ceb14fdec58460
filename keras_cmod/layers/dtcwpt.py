"""DTCWPT2D: the dual-tree complex wavelet packet transform as a layer.

The transform runs as a separable cascade of depthwise 1-D convolutions
(vertical then horizontal at each stage, strided stages first, then
undecimated stages with growing dilation), exactly as the filter bank of
`keras_cmod.wavelets.dtcwpt`. Only the branches leading to the requested
packets are computed, and a fully decimated transform is computed directly
(never an undecimated last stage followed by subsampling).
"""

import keras
import numpy as np
from keras import ops

from keras_cmod.layers._utils import conv_output_size
from keras_cmod.wavelets import dtcwpt as wt

#: Order of the banks among the final maps: the banks of the real parts
#: (aa, bb) first, then those of the imaginary parts (ab, ba), so that each
#: part's maps are one contiguous block.
BANK_RANK = {0: 0, 3: 1, 1: 2, 2: 3}


def _final_order(key):
    c, b, rest = key[0], key[1], key[2:]
    return (c, BANK_RANK[b]) + tuple(rest)


def _digits(p, depth):
    return tuple((p // 4 ** (depth - 1 - j)) % 4 for j in range(depth))


class CascadePlan:
    """Per-stage depthwise kernels computing a set of real packet maps.

    Args:
        n_channels: number of input channels (each is transformed alone).
        depth: int, number of stages.
        stride: int, total stride (power of two up to `2**depth`).
        needed: iterable of `(channel, bank, packet)`: the real maps to
            compute (`bank` in 0..3 = aa, ab, ba, bb; `packet` a real packet
            index in 0..4**depth-1).
        wavelet: Q-shift set name.

    Attributes:
        stages: list of dicts with `v_gather`, `v_kernel`, `h_gather`,
            `h_kernel`, `stride`, `dilation` (numpy arrays / ints). A gather
            of `None` means the depthwise multiplier covers every channel.
        index: dict `(channel, bank, packet) -> channel of the final maps`
            (other final channels, from zero filters, are unused).
        n_maps: number of channels of the final maps.
    """

    def __init__(self, n_channels, depth, stride, needed, wavelet="qshift_a"):
        strides, dilations = wt.decimation_schedule(depth, stride)
        f = wt.filter_dict(wavelet)
        needed = sorted(set((int(c), int(b), int(p)) for c, b, p in needed))
        position = {(c, None, ()): c for c in range(n_channels)}
        n_cur = n_channels
        self.stages = []
        for j in range(depth):
            targets = sorted(
                {(c, b, _digits(p, depth)[: j + 1]) for c, b, p in needed},
                key=_final_order,
            )

            def vkey(c, b, d):
                # A vertical output is set by its parent map and filter. At
                # stage 1 every bank reads the input itself, so the banks
                # of one vertical tree (aa/ab, ba/bb) share it.
                if j == 0:
                    return (c, -1 - wt.BANKS[b][0], (), d[-1] // 2)
                return (c, b, d[:-1], d[-1] // 2)

            vouts = sorted({vkey(c, b, d) for c, b, d in targets})
            v_src, v_taps = [], []
            for c, b, pd, v in vouts:
                tree = -1 - b if j == 0 else wt.BANKS[b][0]
                v_src.append(position[(c, None, ())] if j == 0
                             else position[(c, b, pd)])
                vd = [q // 2 for q in pd] + [v]
                v_taps.append(f[wt.branch_types(tree, vd)[-1]])
            v_gather, v_kernel, v_pos, n_v = self._depthwise(
                v_src, v_taps, n_cur)
            vout_pos = dict(zip(vouts, v_pos))
            h_src = [vout_pos[vkey(c, b, d)] for c, b, d in targets]
            h_taps = []
            for c, b, d in targets:
                hd = [q % 2 for q in d]
                h_taps.append(f[wt.branch_types(wt.BANKS[b][1], hd)[-1]])
            h_gather, h_kernel, h_pos, n_cur = self._depthwise(
                h_src, h_taps, n_v)
            self.stages.append(
                {
                    "v_gather": v_gather,
                    "v_kernel": v_kernel[:, None, :, :],
                    "h_gather": h_gather,
                    "h_kernel": h_kernel[None, :, :, :],
                    "stride": strides[j],
                    "dilation": dilations[j],
                }
            )
            position = dict(zip(targets, h_pos))
        self.index = {
            (c, b, sum(q * 4 ** (depth - 1 - i) for i, q in enumerate(d))): k
            for (c, b, d), k in position.items()
        }
        self.n_maps = n_cur

    @staticmethod
    def _depthwise(src, taps, n_in):
        """One 1-D pass: `(gather, kernel (k, n, m), positions, channels)`.

        Output `i` reads input channel `src[i]`. Without a gather, the
        depthwise multiplier `m` is the largest number of outputs per input
        channel and unused slots get zero filters: output `i` lands at
        channel `src[i] * m + slot`. A channel gather on the last axis is
        far slower than a few zero filters (TensorFlow on CPU: several
        times a whole depthwise pass), so it is used only when the padding
        would more than quadruple the channels.
        """
        src = np.asarray(src, dtype="int64")
        taps = np.stack(taps)  # (n_out, k)
        n_out = len(src)
        m = int(np.bincount(src, minlength=n_in).max())
        if n_in * m <= 4 * n_out:
            kernel = np.zeros((taps.shape[1], n_in, m))
            slot = np.zeros(n_in, dtype="int64")
            positions = []
            for i, c in enumerate(src):
                kernel[:, c, slot[c]] = taps[i]
                positions.append(int(c * m + slot[c]))
                slot[c] += 1
            return None, kernel, positions, n_in * m
        return (src.astype("int32"), taps.T[:, :, None], list(range(n_out)),
                n_out)

    def apply(self, x):
        """Runs the cascade on an NHWC tensor (already padded).

        The filter bank runs in float32 whatever the input dtype (it is fixed
        and cheap; this keeps mixed precision exact and portable); the result
        is float32.
        """
        x = ops.cast(x, "float32")
        for st in self.stages:
            s, d = st["stride"], st["dilation"]
            if st["v_gather"] is not None:
                x = ops.take(x, st["v_gather"], axis=-1)
            x = depthwise_conv_1d(x, st["v_kernel"][:, 0], 1, s, d)
            if st["h_gather"] is not None:
                x = ops.take(x, st["h_gather"], axis=-1)
            x = depthwise_conv_1d(x, st["h_kernel"][0], 2, s, d)
        return x

    def macs_per_pixel(self):
        """Multiply-accumulates per input pixel (for cost reports)."""
        total, area = 0.0, 1.0
        for st in self.stages:
            s = st["stride"]
            kv, _, nv_in, mv = st["v_kernel"].shape
            area_v = area / s
            total += kv * nv_in * mv * area_v
            _, kh, nh_in, mh = st["h_kernel"].shape
            area = area_v / s
            total += kh * nh_in * mh * area
        return total


class FusedPlan:
    """The same real packet maps in one vertical and one horizontal pass.

    Each 1-D branch of the packet tree (a tree and a sequence of low/high
    choices) is a cascade of 1-D filters; composed, it is one equivalent 1-D
    filter of `S = 12 + 9 (2**J - 2)` taps applied at the total stride
    (`keras_cmod.wavelets.dtcwpt.equivalent_filter_1d`; the result does not
    depend on the decimation schedule). So every needed map is one vertical
    pass (distinct vertical branches only: banks `aa`/`ab` share theirs)
    followed by one horizontal pass: two depthwise convolutions in all,
    directly at the total stride. Same interface as `CascadePlan`.
    """

    def __init__(self, n_channels, depth, stride, needed, wavelet="qshift_a"):
        wt._check_stride(depth, stride)
        needed = sorted(set((int(c), int(b), int(p)) for c, b, p in needed),
                        key=_final_order)
        cache = {}

        def branch(tree, digits):
            key = (tree, tuple(digits))
            if key not in cache:
                cache[key] = wt.equivalent_filter_1d(tree, digits, wavelet)
            return cache[key]

        vkeys = []
        for c, b, p in needed:
            vd, _ = wt.packet_digits(p, depth)
            vkeys.append((c, wt.BANKS[b][0], tuple(vd)))
        vouts = sorted(set(vkeys))
        v_src = [c for c, _, _ in vouts]
        v_taps = [branch(t, d) for _, t, d in vouts]
        self.v_gather, self.v_kernel, v_pos, n_v = CascadePlan._depthwise(
            v_src, v_taps, n_channels)
        vout_pos = dict(zip(vouts, v_pos))
        h_src, h_taps = [], []
        for (c, b, p), vkey in zip(needed, vkeys):
            _, hd = wt.packet_digits(p, depth)
            h_src.append(vout_pos[vkey])
            h_taps.append(branch(wt.BANKS[b][1], hd))
        self.h_gather, self.h_kernel, h_pos, self.n_maps = (
            CascadePlan._depthwise(h_src, h_taps, n_v))
        self.stride = stride
        self.index = dict(zip(needed, h_pos))

    def apply(self, x):
        """Runs both passes on an NHWC tensor (already padded), float32."""
        x = ops.cast(x, "float32")
        if self.v_gather is not None:
            x = ops.take(x, self.v_gather, axis=-1)
        x = depthwise_conv_1d(x, self.v_kernel, 1, self.stride, 1)
        if self.h_gather is not None:
            x = ops.take(x, self.h_gather, axis=-1)
        return depthwise_conv_1d(x, self.h_kernel, 2, self.stride, 1)

    def macs_per_pixel(self):
        s = self.stride
        kv, nv, mv = self.v_kernel.shape
        kh, nh, mh = self.h_kernel.shape
        return kv * nv * mv / s + kh * nh * mh / (s * s)


IMPLEMENTATIONS = ("auto", "cascade", "fused")


def check_implementation(implementation):
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {list(IMPLEMENTATIONS)}. "
            f"Received: implementation={implementation!r}"
        )
    return implementation


def make_plan(implementation, n_channels, depth, stride, needed,
              wavelet="qshift_a"):
    """The plan of `implementation` (`"auto"` here gives the fused plan;
    the layers' `"auto"` keep both and run the cascade when training).

    Measured on TensorFlow / CPU (`keras-cmod benchmark dtcwpt` and
    `layer1`): forward, the two fused passes run 1.6-3.5x faster than the
    stage-by-stage cascade; forward + backward, the cascade is the faster
    (its backward passes are smaller).
    """
    if check_implementation(implementation) == "cascade":
        return CascadePlan(n_channels, depth, stride, needed, wavelet)
    return FusedPlan(n_channels, depth, stride, needed, wavelet)


_UNEQUAL_STRIDES = {}


def unequal_strides_supported():
    """Whether this backend runs depthwise convolutions with `(s, 1)`
    strides (JAX always; TensorFlow only through oneDNN on CPU).

    Probed once, eagerly, on a tiny input; a probe that cannot run eagerly
    (first use inside a traced function) answers no, which only costs
    speed.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return True
    if backend not in _UNEQUAL_STRIDES:
        try:
            y = ops.depthwise_conv(
                np.ones((1, 4, 4, 1), "float32"),
                np.ones((2, 1, 1, 1), "float32"), strides=(2, 1),
                padding="valid",
            )
            ok = ops.convert_to_numpy(y).shape == (1, 2, 4, 1)
        except Exception:  # the op's own check, or not eager
            ok = False
        _UNEQUAL_STRIDES[backend] = ok
    return _UNEQUAL_STRIDES[backend]


def depthwise_conv_1d(x, kernel, axis, stride, dilation):
    """Depthwise 1-D cross-correlation of an NHWC tensor along `axis`.

    `kernel` has shape `(taps, channels, multiplier)`. Where the backend
    supports it (JAX; TensorFlow with oneDNN on CPU) this is one depthwise
    convolution with unequal strides. TensorFlow's own depthwise kernels
    (GPU, CPU without oneDNN) only accept equal strides: there the other
    spatial axis is folded into the batch, `(B, H, W, C)` -> `(B*H, 1, W,
    C)` for the horizontal pass (free) and the same after a transpose for
    the vertical pass.
    """
    k = ops.convert_to_tensor(kernel, x.dtype)
    if unequal_strides_supported():
        if axis == 1:
            return ops.depthwise_conv(
                x, k[:, None], strides=(stride, 1), padding="valid",
                dilation_rate=(dilation, 1),
            )
        return ops.depthwise_conv(
            x, k[None], strides=(1, stride), padding="valid",
            dilation_rate=(1, dilation),
        )
    if axis == 1:
        x = ops.transpose(x, (0, 2, 1, 3))
    shape = ops.shape(x)
    y = ops.depthwise_conv(
        ops.reshape(x, (shape[0] * shape[1], 1, shape[2], shape[3])),
        k[None],
        strides=stride,
        padding="valid",
        dilation_rate=dilation,
    )
    y = ops.reshape(y, (shape[0], shape[1], -1, shape[3] * kernel.shape[-1]))
    if axis == 1:
        y = ops.transpose(y, (0, 2, 1, 3))
    return y


def complex_combination(depth, wavelet, packets, plan, channel=0):
    """Matrices mapping the final real maps to Re / Im of `packets`.

    Returns:
        `(re, im)`: float64 arrays of shape `(plan.n_maps, len(packets))`,
        including the analytic step (conjugation of mirrored packets).
    """
    n = 4**depth
    comb = wt.dualtree_combination(depth)
    conj = wt.conjugation_mask(depth, wavelet)
    re = np.zeros((plan.n_maps, len(packets)))
    im = np.zeros((plan.n_maps, len(packets)))
    for j, k in enumerate(packets):
        p = k % n
        for b in range(4):
            key = (channel, b, p)
            if comb[k, 0, b, p] and key in plan.index:
                re[plan.index[key], j] = comb[k, 0, b, p]
            if comb[k, 1, b, p] and key in plan.index:
                sign = -1.0 if conj[k] else 1.0
                im[plan.index[key], j] = sign * comb[k, 1, b, p]
    return re, im


def needed_maps(depth, packets, output, channel=0):
    """Real maps `(channel, bank, packet)` needed for `packets`."""
    n = 4**depth
    banks = (0, 1, 2, 3) if output == "complex" else (0, 3)  # Re: aa, bb
    return [(channel, b, k % n) for k in packets for b in banks]


def check_output(output_mode):
    if output_mode not in ("complex", "real"):
        raise ValueError(
            "output_mode must be 'complex' or 'real'. "
            f"Received: output_mode={output_mode!r}"
        )


def check_packets(depth, packets):
    n = 2 * 4**depth
    if packets is None:
        return list(range(n))
    packets = [int(p) for p in packets]
    bad = [p for p in packets if not 0 <= p < n]
    if bad or not packets:
        raise ValueError(
            f"packets must be a non-empty list of complex packet indices in "
            f"0..{n - 1} for depth={depth}. Received: packets={packets}"
        )
    return packets


@keras.saving.register_keras_serializable(package="keras_cmod")
class DTCWPT2D(keras.layers.Layer):
    """Dual-tree complex wavelet packet transform of each input channel.

    A fixed (non-trainable) filter bank: Kingsbury's Q-shift filters in the
    Bayram-Selesnick dual-tree packet structure of the twin models, with the
    analytic step (see `keras_cmod.wavelets.dtcwpt`). The input is zero
    padded by `padding` on each side, then transformed by a separable
    cascade. Output channels are grouped by input channel, then by packet
    (in the order of `packets`), then (Re, Im) when `output_mode="complex"`.

    Args:
        depth: int >= 1, number of decomposition stages `J`.
        stride: int, total stride, a power of two in `1 .. 2**depth`.
            Defaults to `2**depth` (fully decimated).
        output_mode: `"complex"` (Re, Im channel pairs) or `"real"` (real
            parts).
        packets: list of complex packet indices to keep, in output order
            (`psi_a` packets `0..4**J-1`, then `psi_b`). Defaults to all
            `2 * 4**J` packets.
        padding: int, zero padding per side. Defaults to the reference
            padding `keras_cmod.wavelets.dtcwpt_padding(depth, stride)`.
        wavelet: str, Q-shift set. Defaults to `"qshift_a"`.
        implementation: `"cascade"` (stage by stage, as the filter bank is
            defined), `"fused"` (each branch's stage filters composed into
            one equivalent 1-D filter: one vertical and one horizontal pass
            at the total stride) or `"auto"`: the cascade in training calls
            (its backward pass is the faster, measured), the fused passes
            otherwise (their forward pass is). All give the same result to
            float32 round-off.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, h, w, channels * len(packets) * (2 if complex else 1))`
        with `h = (height + 2 * padding - S) // stride + 1`, where
        `S = 12 + 9 * (2**depth - 2)` is the kernel support.

    Example:
    >>> layer = keras_cmod.layers.DTCWPT2D(depth=2, stride=2, padding=14)
    >>> layer(np.zeros((1, 40, 40, 1))).shape
    (1, 20, 20, 64)

    Reference:
        - I. Bayram and I. W. Selesnick, "On the Dual-Tree Complex Wavelet
          Packet and M-Band Transforms", IEEE TSP 2008.
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        depth,
        stride=None,
        output_mode="complex",
        packets=None,
        padding=None,
        wavelet="qshift_a",
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.implementation = check_implementation(implementation)
        depth = wt._check_depth(depth)
        stride = 2**depth if stride is None else stride
        wt._check_stride(depth, stride)
        check_output(output_mode)
        wt.qshift_filters(wavelet)  # validates the name
        self.depth = depth
        self.stride = int(stride)
        self.output_mode = output_mode
        self.packets = check_packets(depth, packets)
        if padding is None:
            padding = wt.dtcwpt_padding(depth, self.stride, wavelet)
        if isinstance(padding, bool) or not isinstance(padding, int) or (
            padding < 0
        ):
            raise ValueError(
                f"padding must be an int >= 0. Received: padding={padding!r}"
            )
        self.padding = padding
        self.wavelet = wavelet
        self.kernel_support = wt.kernel_size(depth, wavelet)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel dimension must be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        for size in input_shape[1:3]:
            if size is not None and size + 2 * self.padding < (
                self.kernel_support
            ):
                raise ValueError(
                    f"Input too small for the depth-{self.depth} DT-CWPT: "
                    f"kernel support {self.kernel_support} > padded size "
                    f"{size + 2 * self.padding}. Received: "
                    f"input_shape={tuple(input_shape)}, padding={self.padding}"
                )
        needed = []
        for c in range(channels):
            needed += needed_maps(
                self.depth, self.packets, self.output_mode, c
            )
        kinds = (("cascade", "fused") if self.implementation == "auto"
                 else (self.implementation,))
        self._variants = {}
        for kind in kinds:
            plan = make_plan(kind, channels, self.depth, self.stride,
                             needed, self.wavelet)
            cols = []
            for c in range(channels):
                re, im = complex_combination(
                    self.depth, self.wavelet, self.packets, plan, c
                )
                if self.output_mode == "complex":
                    cols.append(
                        np.stack([re, im], axis=-1).reshape(len(re), -1))
                else:
                    cols.append(re)
            self._variants[kind] = (plan, np.concatenate(cols, axis=1))

    def _variant(self, training):
        """`"auto"`: the cascade when training (faster backward pass), the
        fused passes otherwise (faster forward pass)."""
        if self.implementation != "auto":
            return self._variants[self.implementation]
        return self._variants["cascade" if training else "fused"]

    def call(self, inputs, training=None):
        plan, combine = self._variant(training)
        p = self.padding
        x = ops.pad(inputs, ((0, 0), (p, p), (p, p), (0, 0)))
        x = plan.apply(x)
        y = ops.matmul(x, ops.convert_to_tensor(combine, "float32"))
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        h, w = (
            conv_output_size(s, self.kernel_support, self.stride,
                             2 * self.padding)
            for s in input_shape[1:3]
        )
        per = len(self.packets) * (1 + (self.output_mode == "complex"))
        channels = input_shape[-1]
        return (input_shape[0], h, w,
                None if channels is None else channels * per)

    def macs(self, input_shape):
        """Multiply-accumulates per example of the cascade and combination."""
        h, w = input_shape[1] + 2 * self.padding, input_shape[2] + (
            2 * self.padding
        )
        oh, ow = self.compute_output_shape(input_shape)[1:3]
        return int(
            self._variant(False)[0].macs_per_pixel() * h * w
            + oh * ow * self._variant(False)[1].size
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "stride": self.stride,
                "output_mode": self.output_mode,
                "packets": list(self.packets),
                "padding": self.padding,
                "wavelet": self.wavelet,
                "implementation": self.implementation,
            }
        )
        return config

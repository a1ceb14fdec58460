"""Plans of the DT-CWPT as depthwise 1-D passes (numpy only).

A plan says which real maps of the four filter banks are computed, with
which 1-D filters, strides and dilations; the layers of
`keras_cmod.layers` only apply it (two depthwise 1-D convolutions per
stage). Two plans give the same maps to float32 round-off:

* `FusedPlan`: each branch's stage filters composed into one equivalent 1-D
  filter, so the whole transform is one vertical and one horizontal pass at
  the total stride. This is what the layers run.
* `CascadePlan`: stage by stage, as the filter bank is defined (strided
  stages first, then undecimated stages with growing dilation). Kept as an
  independent check of the fused filters.
"""

import numpy as np

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

    def macs_per_pixel(self):
        s = self.stride
        kv, nv, mv = self.v_kernel.shape
        kh, nh, mh = self.h_kernel.shape
        return kv * nv * mv / s + kh * nh * mh / (s * s)


PLANS = ("fused", "cascade")


def make_plan(kind, n_channels, depth, stride, needed, wavelet="qshift_a"):
    """The `"fused"` (default path) or `"cascade"` plan of `needed` maps."""
    if kind == "cascade":
        return CascadePlan(n_channels, depth, stride, needed, wavelet)
    if kind == "fused":
        return FusedPlan(n_channels, depth, stride, needed, wavelet)
    raise ValueError(
        f"kind must be one of {list(PLANS)}. Received: kind={kind!r}")


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

"""DTCWPTConv2D: the Gabor branch of a twin first layer."""

import keras
import numpy as np
from keras import ops

from keras_cmod.layers._utils import (
    conv_output_size,
    empty_batch_output,
    fresh_initializer,
    normalize_padding,
    pad_hw,
)
from keras_cmod.layers.dtcwpt import (
    apply_plan,
    check_image_input,
    check_implementation,
    check_output,
    complex_combination,
    image_input,
    make_plan,
    needed_maps,
)
from keras_cmod.layers.regularizers import PacketSelectionPenalty
from keras_cmod.wavelets import dtcwpt as wt

#: Initial luminance weights of the reference models (they sum to 3).
COLORMIX_INIT = {
    "alexnet": (1.0036, 1.1630, 0.8334),
    "resnet": (0.9802, 1.3060, 0.7138),
}


def _numbers(values, count, name, what, minimum=None):
    """`values` as a list of `count` finite floats, or a ValueError naming
    `name` and `what` is allowed."""
    try:
        out = [v for v in values]
    except TypeError:
        out = None
    ok = out is not None and len(out) == count and all(
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, bool) and np.isfinite(v)
        and (minimum is None or v >= minimum) for v in out)
    if not ok:
        raise ValueError(
            f"{name} must hold {what}. Received: {name}={values!r}")
    return [float(v) for v in out]


def get_selection(selection):
    """`"alexnet"`, `"resnet"` or a config dict -> `PacketSelection`."""
    if isinstance(selection, wt.PacketSelection):
        return selection
    if isinstance(selection, str):
        if selection not in wt.PACKET_SELECTIONS:
            raise ValueError(
                f"Unknown packet selection. Expected one of "
                f"{sorted(wt.PACKET_SELECTIONS)} or a dict. "
                f"Received: selection={selection!r}"
            )
        return wt.PACKET_SELECTIONS[selection]
    if isinstance(selection, dict):
        return wt.PacketSelection(**selection)
    raise ValueError(
        "selection must be 'alexnet', 'resnet' or a dict with keys depth, "
        "packets, split_in, split_out, groups, l1_penalty. "
        f"Received: selection={selection!r}"
    )


@keras.saving.register_keras_serializable(package="keras_cmod")
class DTCWPTConv2D(keras.layers.Layer):
    """Gabor channels of a twin first layer: colour mix, DT-CWPT, mixing.

    1. A trainable 1x1 colour mix gives one luminance image
       `lum = sum_c mu_c x_c` (initialised as the reference models).
    2. A fixed DT-CWPT of depth `J` (`keras_cmod.layers.DTCWPT2D`) computes
       the selected complex packets `D_k` at total stride `strides`.
    3. A trainable grouped real mixing gives `Z_l = sum_k alpha_lk D_k`
       (same weights on Re and Im), section by section: output `l` of a
       section only reads the packets of its group.

    The transform is linear and fixed, so it runs on each colour channel of
    the image and the colour mix, the combination of the four real filter
    banks, the analytic step, the packet selection and the mixing are folded
    into one 1x1 product after it: the trainable weights only enter that
    product, and the backward pass never runs back through the transform.
    Only the branches of the kept packets are computed. With
    `output_mode="complex"` the output holds `(Re Z_l, Im Z_l)` channel
    pairs; with `"real"` only `Re Z_l` (the RMax twin). To get the CMod
    operator, use `strides = 2 * m` and take the modulus of the pairs.

    Args:
        selection: `"alexnet"` (J=3, 94 packets -> 32 channels), `"resnet"`
            (J=2, 16 packets -> 24 channels) or a `PacketSelection` config.
        strides: int, total stride of the transform, a power of two up to
            `2**J`. Defaults to `2**(J-1)` (the RMax twin's stride `m`).
        output_mode: `"real"` or `"complex"`.
        padding: int or `((top, bottom), (left, right))` explicit zero
            padding. Defaults to the reference padding (14 for J=2, 34 for
            J=3).
        use_bias: bool, add a bias to Re and Im of each output (the AlexNet
            RMax twin).
        colormix_init: 3 floats, initial luminance weights. Defaults to
            those of the reference model of the same depth.
        penalty: list of floats (one lambda per section) for the
            l1/l-infinity packet-selection penalty, or `None` to use the
            selection's own (non-zero only for AlexNet).
        mixing_initializer: initializer of the mixing weights. Defaults to
            `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (PyTorch's default).
        implementation: how the DT-CWPT runs: `"auto"` or `"fused"` (the
            fast path) or `"cascade"` (an independent check); see
            `keras_cmod.layers.DTCWPT2D`. Same results.

    Input shape:
        `(batch, height, width, 3)`.

    Output shape:
        `(batch, h, w, L)` (real) or `(batch, h, w, 2 L)` (complex) with `L`
        the number of Gabor channels and `h = (height + pad - S) // strides
        + 1`, `S` the DT-CWPT kernel support (30 for J=2, 66 for J=3).

    Example:
    >>> layer = keras_cmod.layers.DTCWPTConv2D("resnet", output_mode="real")
    >>> layer(np.zeros((1, 224, 224, 3))).shape
    (1, 112, 112, 24)

    Reference:
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024, Sec. III.
    """

    def __init__(
        self,
        selection="resnet",
        strides=None,
        output_mode="real",
        padding=None,
        use_bias=False,
        colormix_init=None,
        penalty=None,
        mixing_initializer=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.implementation = check_implementation(implementation)
        sel = get_selection(selection)
        self._selection = sel
        self.selection = selection if isinstance(selection, str) else (
            sel.to_config()
        )
        depth = sel.depth
        self.strides = 2 ** (depth - 1) if strides is None else strides
        wt._check_stride(depth, self.strides)
        check_output(output_mode)
        self.output_mode = output_mode
        if padding is None:
            padding = wt.dtcwpt_padding(depth, 2 ** (depth - 1))
        self.padding = normalize_padding(padding)
        self.use_bias = bool(use_bias)
        if colormix_init is None:
            colormix_init = COLORMIX_INIT["alexnet" if depth == 3 else "resnet"]
        self.colormix_init = _numbers(colormix_init, 3, "colormix_init",
                                      "3 floats (R, G, B)")
        if penalty is None:
            penalty = sel.l1_penalty
        self.penalty = _numbers(
            penalty, len(sel.split_in), "penalty",
            f"one float >= 0 per section ({len(sel.split_in)})", minimum=0)
        if mixing_initializer is None:
            mixing_initializer = keras.initializers.VarianceScaling(
                1.0 / 3.0, mode="fan_in", distribution="uniform"
            )
        self.mixing_initializer = keras.initializers.get(mixing_initializer)
        self.filters = sel.filters
        self.kernel_support = wt.kernel_size(depth)

    def _check_input(self, input_shape):
        shape = check_image_input(input_shape, "DTCWPTConv2D", channels=3)
        for size, (p0, p1) in zip(shape[1:3], self.padding):
            if isinstance(size, int) and size + p0 + p1 < self.kernel_support:
                raise ValueError(
                    f"DTCWPTConv2D needs a height and width of at least "
                    f"{self.kernel_support - p0 - p1} pixels with padding "
                    f"{self.padding} (DT-CWPT kernel support "
                    f"{self.kernel_support}). Received: input_shape={shape}"
                )

    @property
    def packet_selection(self):
        return self._selection

    def build(self, input_shape):
        self._check_input(input_shape)
        sel = self._selection
        self.colormix = self.add_weight(
            name="colormix",
            shape=(3,),
            initializer=keras.initializers.Constant(
                np.array(self.colormix_init)
            ),
        )
        self.mixing = []
        for q, (k, l_out, g) in enumerate(
            zip(sel.split_in, sel.split_out, sel.groups)
        ):
            lam = self.penalty[q]
            self.mixing.append(
                self.add_weight(
                    name=f"mixing_{q}",
                    shape=(k // g, l_out),
                    initializer=fresh_initializer(self.mixing_initializer),
                    regularizer=PacketSelectionPenalty(lam) if lam else None,
                )
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer="zeros"
            )
        # Fixed parts: the transform plan of the three colour channels and
        # the bank -> packet combination of each map.
        self._plan, self._colour, self._re_rows, self._im_rows = (
            self._plan_parts(self.implementation))
        self._lum_parts = self._plan_parts(self.implementation, colours=1)
        # Per-section masks that spread the (k/g, l) weights block-diagonally.
        self._masks = []
        for k, l_out, g in zip(sel.split_in, sel.split_out, sel.groups):
            rows = np.arange(k) // (k // g)
            cols = np.arange(l_out) // (l_out // g)
            self._masks.append((rows[:, None] == cols[None, :]).astype("f4"))

    def _plan_parts(self, implementation, colours=3):
        """`(plan, colour of each map, Re rows, Im rows)`: the rows map the
        plan's real maps to Re / Im of the selected packets. `colours=1`:
        the plan of the luminance image alone (inference)."""
        sel = self._selection
        needed = []
        for c in range(colours):
            needed += needed_maps(sel.depth, sel.packets, self.output_mode, c)
        plan = make_plan(implementation, colours, sel.depth, self.strides,
                         needed)
        colour = np.zeros(plan.n_maps, dtype="int32")
        for (c, _, _), k in plan.index.items():
            colour[k] = c
        re = np.zeros((plan.n_maps, len(sel.packets)))
        im = np.zeros_like(re)
        for c in range(colours):
            re_c, im_c = complex_combination(sel.depth, "qshift_a",
                                             sel.packets, plan, c)
            re += re_c
            im += im_c
        return plan, colour, re, im

    def mixing_matrix(self):
        """Dense `(n_packets, filters)` mixing matrix (zeros off-group)."""
        sel = self._selection
        blocks, col = [], 0
        for w, mask, (k, l_out, g) in zip(
            self.mixing, self._masks, zip(sel.split_in, sel.split_out,
                                          sel.groups)
        ):
            dense = ops.tile(w, (g, 1)) * mask
            left = col
            right = self.filters - col - l_out
            blocks.append(ops.pad(dense, ((0, 0), (left, right))))
            col += l_out
        return ops.concatenate(blocks, axis=0)

    def luminance(self, inputs):
        """The one-channel image `sum_c mu_c x_c` (float32)."""
        return ops.matmul(ops.cast(inputs, "float32"),
                          ops.cast(self.colormix, "float32")[:, None])

    def output_weights(self, per_colour=True):
        """`(W_re, W_im)`: float32 `(n_maps, filters)` matrices from the
        transform's real maps to Re Z and Im Z (`W_im` is `None` in real
        mode): bank combination and mixing, and the colour mix when the
        maps are those of each colour (`per_colour`)."""
        mix = ops.cast(self.mixing_matrix(), "float32")
        if per_colour:
            re_rows, im_rows = self._re_rows, self._im_rows
            scale = ops.take(ops.cast(self.colormix, "float32"),
                             self._colour)[:, None]
        else:
            _, _, re_rows, im_rows = self._lum_parts
            scale = 1.0
        re_w = scale * ops.matmul(
            ops.convert_to_tensor(re_rows, "float32"), mix)
        if self.output_mode == "real":
            return re_w, None
        im_w = scale * ops.matmul(
            ops.convert_to_tensor(im_rows, "float32"), mix)
        return re_w, im_w

    def transform(self, inputs, padded_inputs=None, training=None):
        """`(Re Z, Im Z)` as two float32 tensors (`Im Z` is `None` in real
        mode), before any interleaving; the twin stem uses this directly.

        `padded_inputs`, if given, replaces `pad(inputs)` (the stem pads
        and offsets the image itself).

        Training calls transform each colour (the backward pass then never
        runs through the transform); other calls transform the luminance
        image alone, a third of the work forward. Same values."""
        if padded_inputs is None:
            padded_inputs = pad_hw(ops.cast(inputs, "float32"),
                                   self.padding)
        if training:
            maps = apply_plan(self._plan, padded_inputs)
        else:
            maps = apply_plan(self._lum_parts[0],
                              self.luminance(padded_inputs))
        re_w, im_w = self.output_weights(per_colour=bool(training))
        if im_w is None:
            re, im = ops.matmul(maps, re_w), None
        else:
            both = ops.matmul(maps, ops.concatenate([re_w, im_w], axis=1))
            re, im = both[..., : self.filters], both[..., self.filters:]
        if self.use_bias:
            bias = ops.cast(self.bias, "float32")
            re = re + bias
            im = None if im is None else im + bias
        return re, im

    def call(self, inputs, training=None):
        inputs = image_input(inputs, "DTCWPTConv2D")
        self._check_input(inputs.shape)
        empty = empty_batch_output(self, inputs, inputs.dtype)
        if empty is not None:
            return empty
        re, im = self.transform(inputs, training=training)
        if im is None:
            return ops.cast(re, inputs.dtype)
        shape = ops.shape(re)
        out = ops.reshape(ops.stack([re, im], axis=-1),
                          (shape[0], shape[1], shape[2], 2 * self.filters))
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        h, w = (
            conv_output_size(s, self.kernel_support, self.strides, sum(p))
            for s, p in zip(input_shape[1:3], self.padding)
        )
        ch = self.filters * (2 if self.output_mode == "complex" else 1)
        return (input_shape[0], h, w, ch)

    def macs(self, input_shape):
        """Multiply-accumulates per example (transform + 1x1 products)."""
        plan = self._plan
        h = input_shape[1] + sum(self.padding[0])
        w = input_shape[2] + sum(self.padding[1])
        oh, ow, _ = self.compute_output_shape(input_shape)[1:]
        cols = self.filters * (2 if self.output_mode == "complex" else 1)
        return int(plan.macs_per_pixel() * h * w + oh * ow * plan.n_maps * cols)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "selection": self.selection,
                "strides": self.strides,
                "output_mode": self.output_mode,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "colormix_init": self.colormix_init,
                "penalty": self.penalty,
                "mixing_initializer": keras.initializers.serialize(
                    self.mixing_initializer
                ),
                "implementation": self.implementation,
            }
        )
        return config

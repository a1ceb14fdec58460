"""ResNet-18/34/50/101 (torchvision layout) and their twins."""

import keras

from keras_cmod.layers import AdaptiveBlurPool2D, BlurPool2D
from keras_cmod.models.heads import (
    ZooModel,
    apply_head,
    canonical_variant,
    check_call_size,
    check_extra_kwargs,
    check_head_args,
    check_pretrained_cfg,
    dtype_policy_scope,
)
from keras_cmod.models.stems import (
    ANTIALIAS,
    STEMS,
    apply_stem,
    batch_norm,
    check_choice,
    torch_bias_init,
    torch_default_init,
    torchvision_conv_init,
)

#: depth -> (block type, blocks per stage)
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}
#: Smallest input side each ResNet accepts (1x1 maps in the last stage).
MIN_INPUT_SIZE = 32
#: Smallest image a dynamic-size ResNet runs on, by stem (standard, twin):
#: the blur and pooling layers pad small maps exactly down to 1x1; the
#: wavelet stems need 2x2.
_CALL_MIN_SIZE = (1, 2)
#: The constructor's arguments (misspelled ones are refused).
CONSTRUCTOR_ARGS = (
    "depth", "stem", "antialias", "blur_size", "num_classes", "include_top",
    "pooling", "input_shape", "classifier_activation", "packet_penalty",
    "pretrained_cfg", "name",
)


def _conv(x, filters, kernel, stride, name):
    # Stride 1: "same" pads odd kernels symmetrically (k // 2 each side),
    # exactly as torchvision, without a separate padding op. Stride 2:
    # explicit symmetric padding, since "same" would pad (0, 1) on even
    # sizes.
    padding = "same"
    if stride > 1:
        padding = "valid"
        if kernel > 1:
            x = keras.layers.ZeroPadding2D(kernel // 2,
                                           name=f"{name}_pad")(x)
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=False,
        kernel_initializer=torchvision_conv_init(), name=name,
    )(x)


def _downsample(x, antialias, blur_size, name):
    """Strided anti-aliasing of the body (Zhang / Zou, 8 groups)."""
    if antialias == "blurpool":
        return BlurPool2D(blur_size, strides=2, name=name)(x)
    return AdaptiveBlurPool2D(groups=8, filter_size=3, strides=2,
                              momentum=0.9, epsilon=1e-5, softmax="joint",
                              name=name)(x)


def _shortcut(x, filters, stride, antialias, blur_size, name):
    if antialias != "none" and stride > 1:
        x = _downsample(x, antialias, blur_size, f"{name}_blur")
        stride = 1
    x = _conv(x, filters, 1, stride, f"{name}_conv")
    return batch_norm(f"{name}_bn")(x)


def apply_basic_block(x, filters, stride, antialias, blur_size, name):
    """torchvision BasicBlock; blurred: conv(s1) -> BN -> ReLU -> blur."""
    in_channels = x.shape[-1]
    shortcut = x
    blurred = antialias != "none" and stride > 1
    y = _conv(x, filters, 3, 1 if blurred else stride, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    if blurred:
        y = _downsample(y, antialias, blur_size, f"{name}_blur")
    y = _conv(y, filters, 3, 1, f"{name}_conv2")
    y = batch_norm(f"{name}_bn2")(y)
    if stride > 1 or in_channels != filters:
        shortcut = _shortcut(x, filters, stride, antialias, blur_size,
                             f"{name}_downsample")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def apply_bottleneck_block(x, filters, stride, antialias, blur_size, name):
    """torchvision Bottleneck (stride on the 3x3 conv, expansion 4).

    Blurred version: the 3x3 conv runs at stride 1 and the blur (or the
    adaptive blur) sits between its ReLU and the last 1x1 conv.
    """
    in_channels = x.shape[-1]
    out_channels = 4 * filters
    blurred = antialias != "none" and stride > 1
    y = _conv(x, filters, 1, 1, f"{name}_conv1")
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, 1 if blurred else stride, f"{name}_conv2")
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    if blurred:
        y = _downsample(y, antialias, blur_size, f"{name}_blur")
    y = _conv(y, out_channels, 1, 1, f"{name}_conv3")
    y = batch_norm(f"{name}_bn3")(y)
    shortcut = x
    if stride > 1 or in_channels != out_channels:
        shortcut = _shortcut(x, out_channels, stride, antialias, blur_size,
                             f"{name}_downsample")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="keras_cmod")
class ResNet(ZooModel):
    """ResNet (torchvision layout) with a standard or twin first layer.

    Channels-last, no convolution bias, batch norm with epsilon 1e-5 and
    PyTorch's momentum, explicit symmetric zero padding: the layout of
    torchvision and of the paper's reference code, so their checkpoints can
    be imported with identical outputs (`keras_cmod.convert`). Block layer
    names are `layer{stage}_{block}_{part}` (stages 1..4, blocks from 0);
    the first-layer block's output is the layer `stem`.

    Args:
        depth: 18, 34, 50 or 101.
        stem: `"standard"` (CNN), `"twin"` (WCNN, RMax Gabor channels;
            `"rmax"` is accepted too) or `"cmod"` (CWCNN, CMod Gabor
            channels).
        antialias: `"none"`, `"blurpool"` (Zhang, the whole net) or
            `"adaptive_blurpool"` (Zou's adaptive blur pooling; also
            `"ablurpool"`, as in registry names).
        blur_size: int in 1..7, Zhang's filter size. Defaults to `3`.
        num_classes: int, size of the classifier. Defaults to `1000`.
        include_top: bool, add global average pooling and the classifier
            (`Dense` layer named `predictions`).
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        input_shape: `(height, width, 3)`; `None` sides accept any size.
            Defaults to `(224, 224, 3)`.
        classifier_activation: `None` (logits) or an activation name.
        packet_penalty: lambdas of the packet-selection penalty (twins).
        pretrained_cfg: dict describing the model (input size, classes,
            label names, preprocessing, tag, weights source), as
            `keras_cmod.zoo` derives it; kept in `get_config`.
        name: model name.

    Raises:
        TypeError: an unknown keyword argument, or `include_top` not a
            bool.
        ValueError: an invalid depth, variant, class count, pooling or
            input shape.

    Example:
    >>> model = keras_cmod.models.ResNet(18, stem="cmod", num_classes=10,
    ...                                  input_shape=(32, 32, 3))
    >>> model(np.zeros((2, 32, 32, 3))).shape
    (2, 10)

    Reference:
        - He et al., "Deep Residual Learning for Image Recognition", 2016.
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        depth=18,
        stem="standard",
        antialias="none",
        blur_size=3,
        num_classes=1000,
        include_top=True,
        pooling=None,
        input_shape=(224, 224, 3),
        classifier_activation=None,
        packet_penalty=None,
        pretrained_cfg=None,
        name=None,
        **kwargs,
    ):
        check_extra_kwargs("ResNet", kwargs, CONSTRUCTOR_ARGS)
        stem, antialias = canonical_variant(stem, antialias)
        pretrained_cfg = check_pretrained_cfg(pretrained_cfg)
        if depth not in DEPTHS:
            raise ValueError(
                f"depth must be one of {sorted(DEPTHS)}. Received: "
                f"depth={depth!r}"
            )
        check_choice("stem", stem, STEMS)
        check_choice("antialias", antialias, ANTIALIAS)
        input_shape = check_head_args(
            num_classes, include_top, pooling, input_shape, MIN_INPUT_SIZE,
            "ResNet",
        )
        with dtype_policy_scope(kwargs.get("dtype")) as policy:
            block_type, stages = DEPTHS[depth]
            block = (apply_basic_block if block_type == "basic"
                     else apply_bottleneck_block)
            inputs = keras.Input(shape=input_shape, name="image")
            x = apply_stem(inputs, "resnet", stem, antialias, blur_size,
                           packet_penalty, name="stem")
            for i, n_blocks in enumerate(stages):
                filters = 64 * 2**i
                for j in range(n_blocks):
                    stride = 2 if (j == 0 and i > 0) else 1
                    x = block(x, filters, stride, antialias, blur_size,
                              f"layer{i + 1}_{j}")
            outputs = apply_head(
                x, num_classes, include_top, pooling, classifier_activation,
                kernel_initializer=torch_default_init(),
                bias_initializer=torch_bias_init(x.shape[-1]),
            )
        if name is None:
            name = f"resnet{depth}"
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        # Functional models ignore `dtype`: the model's own policy is the
        # one its layers were built with, so that `get_config` saves it.
        self.dtype_policy = policy
        self.depth = depth
        self.stem = stem
        self.antialias = antialias
        self.blur_size = blur_size
        self.num_classes = num_classes
        self.include_top = include_top
        self.pooling = pooling
        self.image_shape = tuple(input_shape)
        self.classifier_activation = classifier_activation
        self.packet_penalty = packet_penalty
        self.pretrained_cfg = pretrained_cfg

    def call(self, inputs, training=None, mask=None, **kwargs):
        check_call_size(inputs, _CALL_MIN_SIZE[self.stem != "standard"],
                        "ResNet")
        empty = self._empty_batch_output(inputs)
        if empty is not None:
            return empty
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        return {
            "depth": self.depth,
            "stem": self.stem,
            "antialias": self.antialias,
            "blur_size": self.blur_size,
            "num_classes": self.num_classes,
            "include_top": self.include_top,
            "pooling": self.pooling,
            "input_shape": self.image_shape,
            "classifier_activation": self.classifier_activation,
            "packet_penalty": self.packet_penalty,
            "pretrained_cfg": self.pretrained_cfg or None,
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self._dtype_config(),
        }


"""AlexNet (torchvision layout) and its twins."""

import keras

from keras_cmod.layers import AdaptiveAvgPool2D, BlurPool2D
from keras_cmod.models.heads import (
    ZooModel,
    canonical_variant,
    check_call_size,
    check_extra_kwargs,
    check_head_args,
    check_pretrained_cfg,
    dtype_policy_scope,
)
from keras_cmod.models.stems import (
    STEMS,
    apply_stem,
    check_choice,
    torch_bias_init,
    torch_default_init,
)

ANTIALIAS = ("none", "blurpool")
#: Smallest input side: the last max pooling needs a 3x3 map.
MIN_INPUT_SIZE = {"none": 63, "blurpool": 63}
#: The constructor's arguments (misspelled ones are refused).
CONSTRUCTOR_ARGS = (
    "stem", "antialias", "blur_size", "num_classes", "include_top",
    "pooling", "input_shape", "classifier_activation", "dropout",
    "packet_penalty", "pretrained_cfg", "name",
)


def _conv(x, filters, kernel, name):
    # Stride 1, odd kernel: "same" is torchvision's symmetric k // 2 padding.
    fan_in = x.shape[-1] * kernel * kernel
    return keras.layers.Conv2D(
        filters, kernel, padding="same", activation="relu",
        kernel_initializer=torch_default_init(),
        bias_initializer=torch_bias_init(fan_in), name=name,
    )(x)


def _pool(x, antialias, blur_size, name):
    if antialias == "none":
        return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)
    x = keras.layers.MaxPooling2D(3, strides=1, name=f"{name}_max")(x)
    return BlurPool2D(blur_size, name=name)(x)


def _dense(x, units, activation, name):
    return keras.layers.Dense(
        units, activation=activation,
        kernel_initializer=torch_default_init(),
        bias_initializer=torch_bias_init(x.shape[-1]), name=name,
    )(x)


@keras.saving.register_keras_serializable(package="keras_cmod")
class AlexNet(ZooModel):
    """AlexNet (torchvision's) with a standard or twin first layer.

    `features`: conv 64 11x11/4 -> ReLU -> MaxPool(3, 2) -> conv 192 5x5
    -> ReLU -> MaxPool -> conv 384 3x3 -> conv 256 3x3 -> conv 256 3x3 ->
    MaxPool -> adaptive average pooling to 6x6; `classifier`: Dropout ->
    Dense 4096 -> Dropout -> Dense 4096 -> Dense `num_classes`
    (`predictions`). With `antialias="blurpool"` (Zhang): conv1 at stride
    2 -> ReLU -> BlurPool -> MaxPool(3, 1) -> BlurPool, and each later max
    pooling becomes MaxPool(3, 1) -> BlurPool. The first-layer block's
    output is the layer `stem`. The flatten is channels-last: importing
    torchvision weights permutes the first classifier weight (see
    `keras_cmod.convert`).

    Args:
        stem: `"standard"`, `"twin"` (WCNN; `"rmax"` accepted too) or
            `"cmod"` (CWCNN).
        antialias: `"none"` or `"blurpool"`.
        blur_size: int in 1..7. Defaults to `3`.
        num_classes: int. Defaults to `1000`.
        include_top: bool, add the classifier.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        input_shape: `(height, width, 3)`. Defaults to `(224, 224, 3)`.
        classifier_activation: `None` (logits) or an activation name.
        dropout: float, dropout rate of the classifier. Defaults to `0.5`.
        packet_penalty: lambdas of the packet-selection penalty (twins;
            `None` = the paper's `(0, 4.1e-3, 3.2e-4)`).
        pretrained_cfg: dict describing the model (see `ResNet`).
        name: model name.

    Raises:
        TypeError: an unknown keyword argument, or `include_top` not a
            bool.
        ValueError: an invalid variant, class count, pooling or input
            shape.

    Example:
    >>> model = keras_cmod.models.AlexNet(stem="cmod", num_classes=10)
    >>> model(np.zeros((1, 224, 224, 3))).shape
    (1, 10)

    Reference:
        - Krizhevsky, "One weird trick for parallelizing convolutional
          neural networks", 2014 (torchvision's AlexNet).
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        stem="standard",
        antialias="none",
        blur_size=3,
        num_classes=1000,
        include_top=True,
        pooling=None,
        input_shape=(224, 224, 3),
        classifier_activation=None,
        dropout=0.5,
        packet_penalty=None,
        pretrained_cfg=None,
        name=None,
        **kwargs,
    ):
        check_extra_kwargs("AlexNet", kwargs, CONSTRUCTOR_ARGS)
        stem, antialias = canonical_variant(stem, antialias)
        pretrained_cfg = check_pretrained_cfg(pretrained_cfg)
        check_choice("stem", stem, STEMS)
        check_choice("antialias", antialias, ANTIALIAS)
        input_shape = check_head_args(
            num_classes, include_top, pooling, input_shape,
            MIN_INPUT_SIZE[antialias], "AlexNet",
        )
        with dtype_policy_scope(kwargs.get("dtype")) as policy:
            inputs = keras.Input(shape=input_shape, name="image")
            x = apply_stem(inputs, "alexnet", stem, antialias, blur_size,
                           packet_penalty, name="stem")
            x = _conv(x, 192, 5, "conv2")
            x = _pool(x, antialias, blur_size, "pool2")
            x = _conv(x, 384, 3, "conv3")
            x = _conv(x, 256, 3, "conv4")
            x = _conv(x, 256, 3, "conv5")
            x = _pool(x, antialias, blur_size, "pool5")
            if include_top:
                x = AdaptiveAvgPool2D(6, name="avg_pool")(x)
                x = keras.layers.Flatten(name="flatten")(x)
                x = keras.layers.Dropout(dropout, name="dropout1")(x)
                x = _dense(x, 4096, "relu", "fc1")
                x = keras.layers.Dropout(dropout, name="dropout2")(x)
                x = _dense(x, 4096, "relu", "fc2")
                x = keras.layers.Dense(
                    num_classes, activation=classifier_activation,
                    kernel_initializer=torch_default_init(),
                    bias_initializer=torch_bias_init(4096),
                    dtype="float32", name="predictions",
                )(x)
            elif pooling == "avg":
                x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            elif pooling == "max":
                x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        super().__init__(inputs=inputs, outputs=x,
                         name=name or "alexnet", **kwargs)
        # Functional models ignore `dtype`: the model's own policy is the
        # one its layers were built with, so that `get_config` saves it.
        self.dtype_policy = policy
        self.stem = stem
        self.antialias = antialias
        self.blur_size = blur_size
        self.num_classes = num_classes
        self.include_top = include_top
        self.pooling = pooling
        self.image_shape = tuple(input_shape)
        self.classifier_activation = classifier_activation
        self.dropout = dropout
        self.packet_penalty = packet_penalty
        self.pretrained_cfg = pretrained_cfg

    def call(self, inputs, training=None, mask=None, **kwargs):
        check_call_size(inputs, MIN_INPUT_SIZE[self.antialias], "AlexNet")
        empty = self._empty_batch_output(inputs)
        if empty is not None:
            return empty
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        return {
            "stem": self.stem,
            "antialias": self.antialias,
            "blur_size": self.blur_size,
            "num_classes": self.num_classes,
            "include_top": self.include_top,
            "pooling": self.pooling,
            "input_shape": self.image_shape,
            "classifier_activation": self.classifier_activation,
            "dropout": self.dropout,
            "packet_penalty": self.packet_penalty,
            "pretrained_cfg": self.pretrained_cfg or None,
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self._dtype_config(),
        }


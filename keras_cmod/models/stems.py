"""First-layer blocks shared by AlexNet and ResNet (standard and twins)."""

import keras

from keras_cmod.layers import AdaptiveBlurPool2D, BlurPool2D, TwinStem

STEMS = ("standard", "twin", "cmod")
ANTIALIAS = ("none", "blurpool", "adaptive_blurpool")


def torchvision_conv_init():
    """torchvision ResNet's conv init: He normal, fan-out."""
    return keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="untruncated_normal"
    )


def torch_default_init():
    """PyTorch's default Conv/Linear init, U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def torch_bias_init(fan_in):
    """PyTorch's default bias init, U(+-1/sqrt(fan_in))."""
    bound = 1.0 / fan_in**0.5
    return keras.initializers.RandomUniform(-bound, bound)


def check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {list(allowed)}. Received: {name}={value!r}"
        )


def batch_norm(name):
    """PyTorch-equivalent batch norm (eps 1e-5, momentum 0.1)."""
    return keras.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, name=name
    )


def antialias_pool(x, antialias, blur_size, groups, name):
    """Strided anti-aliased downsampling (BlurPool or adaptive)."""
    if antialias == "blurpool":
        return BlurPool2D(blur_size, strides=2, name=name)(x)
    return AdaptiveBlurPool2D(
        groups=groups, filter_size=3, strides=2, momentum=0.9,
        epsilon=1e-5, softmax="joint", name=name,
    )(x)


def apply_stem(x, family, stem="standard", antialias="none", blur_size=3,
               packet_penalty=None, name="stem"):
    """Builds the first-layer block; its last layer is named `name`.

    Args:
        x: input tensor `(batch, height, width, 3)`.
        family: `"alexnet"` or `"resnet"`.
        stem: `"standard"` (the CNN), `"twin"` (WCNN: RMax Gabor channels)
            or `"cmod"` (CWCNN: CMod Gabor channels).
        antialias: `"none"`, `"blurpool"` (Zhang) or `"adaptive_blurpool"`
            (Zou, ResNet only).
        blur_size: int, BlurPool filter size.
        packet_penalty: lambdas of the packet-selection penalty (twins).
        name: name of the block's output layer.

    Returns:
        The block output (64 channels; free channels first in twins).
    """
    check_choice("stem", stem, STEMS)
    check_choice("antialias", antialias, ANTIALIAS)
    if stem != "standard":
        mode = "rmax" if stem == "twin" else "cmod"
        return TwinStem(family, mode, antialias, blur_size=blur_size,
                        packet_penalty=packet_penalty, name=name)(x)
    if family == "resnet":
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = keras.layers.Conv2D(
            64, 7, strides=2, use_bias=False,
            kernel_initializer=torchvision_conv_init(), name="conv1",
        )(x)
        x = batch_norm("bn1")(x)
        x = keras.layers.ReLU(name="relu")(x)
        x = keras.layers.ZeroPadding2D(1, name="pool_pad")(x)
        if antialias == "none":
            return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)
        x = keras.layers.MaxPooling2D(3, strides=1, name="maxpool")(x)
        return antialias_pool(x, antialias, blur_size, 8, name)
    # AlexNet (torchvision); Zhang's version has a stride-2 conv.
    x = keras.layers.ZeroPadding2D(2, name="conv1_pad")(x)
    x = keras.layers.Conv2D(
        64, 11, strides=4 if antialias == "none" else 2,
        kernel_initializer=torch_default_init(),
        bias_initializer=torch_bias_init(3 * 11 * 11),
        name="conv1",
    )(x)
    x = keras.layers.ReLU(name="relu1")(x)
    if antialias == "none":
        return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)
    x = BlurPool2D(blur_size, name="blur1")(x)
    x = keras.layers.MaxPooling2D(3, strides=1, name="maxpool1")(x)
    return BlurPool2D(blur_size, name=name)(x)

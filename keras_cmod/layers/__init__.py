"""Keras layers of keras-cmod (keras / keras.ops only; no tensorflow)."""

from keras_cmod.layers.adaptive_avg_pool import AdaptiveAvgPool2D
from keras_cmod.layers.adaptive_blur_pool import AdaptiveBlurPool2D
from keras_cmod.layers.blur_pool import BlurPool2D
from keras_cmod.layers.cmod import CModConv2D
from keras_cmod.layers.dtcwpt import DTCWPT2D
from keras_cmod.layers.dtcwpt_conv import DTCWPTConv2D
from keras_cmod.layers.normalization import Bias, ModulusBatchNorm
from keras_cmod.layers.regularizers import PacketSelectionPenalty
from keras_cmod.layers.twin_stem import TwinStem

__all__ = [
    "AdaptiveAvgPool2D",
    "AdaptiveBlurPool2D",
    "Bias",
    "BlurPool2D",
    "CModConv2D",
    "DTCWPT2D",
    "DTCWPTConv2D",
    "ModulusBatchNorm",
    "PacketSelectionPenalty",
    "TwinStem",
]

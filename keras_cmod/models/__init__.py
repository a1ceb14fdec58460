"""Model families: AlexNet and ResNet, standard and twins (keras only)."""

from keras_cmod.models.alexnet import AlexNet
from keras_cmod.models.resnet import DEPTHS, ResNet
from keras_cmod.models.stems import apply_stem

__all__ = ["AlexNet", "DEPTHS", "ResNet", "apply_stem"]

"""Input pipelines: TFDS ImageNet / CIFAR-10, image folders, paper transforms.

Typical use::

    cfg = keras_cmod.data.resolve_data_config(model.pretrained_cfg)
    train = keras_cmod.data.load(
        "imagenet2012", "train_minus_heldout", manual_dir="/data/ilsvrc"
    )
    train = keras_cmod.data.preprocess(train, cfg, training=True,
                                       batch_size=256)
    val = keras_cmod.data.preprocess(
        keras_cmod.data.load("imagenet2012", "heldout"), cfg, batch_size=256
    )

This package imports TensorFlow (tf.data); tensorflow-datasets is imported
only when `load` is called.
"""

from keras_cmod.data.config import (
    DATA_CONFIG_KEYS,
    IMAGENET_DEFAULT_CFG,
    INTERPOLATIONS,
    resolve_data_config,
)
from keras_cmod.data.datasets import (
    DATASETS,
    DEFAULT_HELDOUT_SIZE,
    HELDOUT_SPLITS,
    IMAGE_EXTENSIONS,
    IMAGENET_TARS,
    heldout_file_names,
    image_folder,
    list_image_folder,
    load,
)
from keras_cmod.data.pipeline import EVAL_MODES, eval_resize_size, preprocess
from keras_cmod.data.transforms import (
    center_crop,
    center_crop_offsets,
    five_crop,
    random_resized_crop,
    random_resized_crop_box,
    resize_shorter_side,
    ten_crop,
)

__all__ = [
    "DATASETS",
    "DATA_CONFIG_KEYS",
    "DEFAULT_HELDOUT_SIZE",
    "EVAL_MODES",
    "HELDOUT_SPLITS",
    "IMAGENET_DEFAULT_CFG",
    "IMAGENET_TARS",
    "IMAGE_EXTENSIONS",
    "INTERPOLATIONS",
    "center_crop",
    "center_crop_offsets",
    "eval_resize_size",
    "five_crop",
    "heldout_file_names",
    "image_folder",
    "list_image_folder",
    "load",
    "preprocess",
    "random_resized_crop",
    "random_resized_crop_box",
    "resize_shorter_side",
    "resolve_data_config",
    "ten_crop",
]

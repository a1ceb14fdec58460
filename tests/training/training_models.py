"""Tiny test-only models for the training tests (not registry models).

`tiny_model_fn` has the signature `train(..., model_fn=...)` expects. It
is the documented test-only factory hook: the trainer uses it instead of
`keras_cmod.zoo` when given, so distributed and resume tests run in
seconds on two CPU cores. At least one test trains a real zoo model
(`resnet18_cmod`, see test_training_loop.py).

Model names (the `--model` / `TrainConfig.model` value):

- `tiny_plain`: conv -> ReLU -> global pooling -> dense. No batch norm, so
  a multi-replica run computes exactly what a one-replica run computes
  (batch norm statistics are per replica, as in PyTorch DDP).
- `tiny_bn_dropout`: with batch norm and dropout, for resume tests (BN
  statistics and dropout seed states must come back from checkpoints).
- `tiny_penalty`: `tiny_plain` whose first kernel carries the packet
  selection penalty (`model.losses`), as the AlexNet twins do.
"""

import keras

from keras_cmod.layers import PacketSelectionPenalty


def tiny_model_fn(name, num_classes=10, input_shape=None, **kwargs):
    if kwargs:
        raise TypeError(f"unexpected model kwargs {kwargs}")
    input_shape = tuple(input_shape or (8, 8, 3))
    name = name.split(".")[0]
    if name not in ("tiny_plain", "tiny_bn_dropout", "tiny_penalty"):
        raise ValueError(f"Unknown tiny model {name!r}")
    inputs = keras.Input(input_shape, name="image")
    reg = PacketSelectionPenalty(0.01) if name == "tiny_penalty" else None
    x = keras.layers.Conv2D(6, 3, name="conv", kernel_regularizer=reg)(
        inputs)
    if name == "tiny_bn_dropout":
        x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if name == "tiny_bn_dropout":
        x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="predictions",
                                 dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)

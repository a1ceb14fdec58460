"""Classifier heads and the argument checks shared by the families."""

import keras


def check_head_args(num_classes, include_top, pooling, input_shape,
                    min_size, family):
    """Validates keras.applications-style arguments; returns the shape."""
    if include_top and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes < 1
    ):
        raise ValueError(
            "num_classes must be a positive int when include_top=True. "
            f"Received: num_classes={num_classes!r}"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            "pooling must be None, 'avg' or 'max'. "
            f"Received: pooling={pooling!r}"
        )
    if input_shape is None:
        input_shape = (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            "input_shape must be (height, width, 3) (channels-last RGB). "
            f"Received: input_shape={input_shape!r}"
        )
    for side in input_shape[:2]:
        if side is not None and side < min_size:
            raise ValueError(
                f"{family} needs inputs of at least {min_size}x{min_size}. "
                f"Received: input_shape={input_shape!r}"
            )
    return input_shape


def apply_head(x, num_classes, include_top, pooling, classifier_activation,
               kernel_initializer, bias_initializer, flatten=False):
    """Global pooling + `predictions`, or the requested headless output."""
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.layers.Dense(
            num_classes,
            activation=classifier_activation,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            dtype="float32",  # logits in float32 under mixed precision
            name="predictions",
        )(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x

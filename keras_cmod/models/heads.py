"""Classifier heads and the argument checks shared by the families."""

import keras

from keras_cmod.errors import UnknownArgumentError
from keras_cmod.layers._utils import empty_batch_output

#: Other spellings of the variant values, accepted and mapped to the
#: canonical value stored in `get_config` (the layer `TwinStem` calls the
#: twin's operator `"rmax"`, the registry names use `_ablurpool`).
STEM_ALIASES = {"rmax": "twin"}
ANTIALIAS_ALIASES = {"ablurpool": "adaptive_blurpool"}

#: Keyword arguments a family model accepts besides its own (Keras').
_KERAS_KWARGS = ("trainable", "dtype")


def canonical_variant(stem, antialias):
    """`(stem, antialias)` with aliases mapped to the canonical values."""
    if isinstance(stem, str):
        stem = STEM_ALIASES.get(stem, stem)
    if isinstance(antialias, str):
        antialias = ANTIALIAS_ALIASES.get(antialias, antialias)
    return stem, antialias


def check_extra_kwargs(family, kwargs, allowed):
    """Refuses keyword arguments the model does not know (misspellings)."""
    unknown = sorted(k for k in kwargs if k not in _KERAS_KWARGS)
    if unknown:
        raise UnknownArgumentError(
            f"{family} got unexpected keyword argument(s) "
            f"{', '.join(unknown)}. Allowed: "
            f"{', '.join(sorted(allowed + _KERAS_KWARGS))}."
        )


def check_pretrained_cfg(pretrained_cfg):
    if pretrained_cfg is None:
        return None
    if not isinstance(pretrained_cfg, dict):
        raise TypeError(
            "pretrained_cfg must be a dict or None. Received: "
            f"pretrained_cfg={pretrained_cfg!r}"
        )
    return _plain(pretrained_cfg, "pretrained_cfg")


def _plain(value, where):
    """A copy in plain JSON types (it is saved in the model's config)."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}[{k!r}]")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist(), where)
    raise TypeError(
        f"pretrained_cfg must hold JSON values only; {where} is "
        f"{value!r} of type {type(value).__name__}"
    )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_head_args(num_classes, include_top, pooling, input_shape,
                    min_size, family):
    """Validates keras.applications-style arguments; returns the shape."""
    if not isinstance(include_top, bool):
        raise TypeError(
            "include_top must be True or False. Received: "
            f"include_top={include_top!r}"
        )
    if include_top and (not _is_int(num_classes) or num_classes < 1):
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
    if isinstance(input_shape, (str, bytes)) or not hasattr(
        input_shape, "__len__"
    ):
        raise ValueError(
            "input_shape must be (height, width, 3) (channels-last RGB). "
            f"Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(input_shape)
    if (
        len(input_shape) != 3
        or input_shape[-1] != 3
        or not all(s is None or _is_int(s) for s in input_shape[:2])
    ):
        raise ValueError(
            "input_shape must be (height, width, 3) (channels-last RGB; "
            "height and width positive ints or None). "
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


def check_call_size(inputs, min_size, family):
    """Refuse, before any kernel runs, an image below `min_size` whose size
    is known at call time (a model built with `input_shape=(None, None,
    3)`): too small a map otherwise ends in a pooling kernel's error, or
    in a crash of the process."""
    shape = getattr(_first_tensor(inputs), "shape", None)
    if shape is None or len(shape) != 4:
        return
    for side in tuple(shape)[1:3]:
        if side is not None and int(side) < min_size:
            raise ValueError(
                f"{family} needs images of at least {min_size}x{min_size}"
                f" pixels. Received: an input of shape {tuple(shape)}"
            )


def _first_tensor(inputs):
    x = inputs
    while isinstance(x, (list, tuple)) and x:
        x = x[0]
    if isinstance(x, dict) and x:
        x = next(iter(x.values()))
    return x


class dtype_policy_scope:  # noqa: N801 - used like a function
    """Makes `dtype` (a policy, its name or its config) the default policy
    of the layers created inside the `with` block; `None` keeps the global
    one. `as` gives the policy in force.

    The families build their graph in `__init__`: a model rebuilt by
    `from_config` in a process whose global policy differs (a fresh one,
    float32) must still create every layer with the policy the model was
    saved with, as a functional model such as `keras.applications.ResNet50`
    does from its layers' configs. Keras keeps the global policy per thread.
    """

    def __init__(self, dtype):
        self.policy = None if dtype is None else keras.dtype_policies.get(
            dtype)
        self._saved = None

    def __enter__(self):
        self._saved = keras.config.dtype_policy()
        if self.policy is None:
            return self._saved
        keras.config.set_dtype_policy(self.policy)
        return self.policy

    def __exit__(self, *exc_info):
        if self.policy is not None:
            keras.config.set_dtype_policy(self._saved)
        return False


class ZooModel(keras.Model):
    """What `AlexNet` and `ResNet` share: their `pretrained_cfg` metadata
    and `from_config` (the config is the constructor's arguments)."""

    def _empty_batch_output(self, inputs):
        """Outputs of a batch known to hold 0 images, else `None` (see
        `keras_cmod.layers._utils.empty_batch_output`); also keeps the
        empty batch from the bias-add that Keras substitutes for a
        residual sum on 1x1 maps, which refuses it."""
        return empty_batch_output(self, _first_tensor(inputs))

    @property
    def pretrained_cfg(self):
        """What the model is (a plain dict, see `keras_cmod.zoo`).

        Input size, classes and label names, preprocessing, variant, tag
        and weights source; saved in `get_config`, so it survives
        `model.save` / `keras.saving.load_model` and the Hub.
        """
        return self.__dict__.get("_pretrained_cfg")

    @pretrained_cfg.setter
    def pretrained_cfg(self, value):
        # Kept in __dict__, outside Keras' attribute tracking: metadata.
        self.__dict__["_pretrained_cfg"] = check_pretrained_cfg(value)

    def _dtype_config(self):
        """The model's dtype policy, as `get_config` saves it."""
        return keras.dtype_policies.serialize(self.dtype_policy)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

"""`preprocess`: the paper's training and evaluation transforms as tf.data.

Pure tf.data: no TFDS here. The input is any `tf.data.Dataset` of
`(image, label)` tuples or of dicts with `"image"` and `"label"` keys, as
returned by `keras_cmod.data.load`, `keras_cmod.data.image_folder` or
`tf.data.Dataset.from_tensor_slices`.
"""

import math
import numbers

import tensorflow as tf

from keras_cmod.data import transforms
from keras_cmod.data.config import resolve_data_config

EVAL_MODES = ("paper", "crop_pct", "ten_crop")

AUTOTUNE = tf.data.AUTOTUNE


def eval_resize_size(data_config, eval_mode="paper"):
    """Size of the resize that precedes the evaluation crop.

    Args:
        data_config: a resolved data config (`resolve_data_config`).
        eval_mode: `"paper"` (the paper's one-crop: the resize equals the
            crop, i.e. Resize(224) -> CenterCrop(224)), `"crop_pct"` or
            `"ten_crop"` (both `floor(size / crop_pct)`, as timm: 224 -> 256
            and 32 -> 36 for `crop_pct=0.875`).

    Returns:
        `(height, width)` ints. For a square `input_size` the shorter side
        of the image is resized to `height` (keeping the aspect ratio); for
        a non-square one the image is resized to exactly this size (timm).

    Raises:
        ValueError: if `eval_mode` is unknown.
    """
    _check_eval_mode(eval_mode)
    h, w, _ = data_config["input_size"]
    if eval_mode == "paper":
        return h, w
    crop_pct = data_config["crop_pct"]
    return math.floor(h / crop_pct), math.floor(w / crop_pct)


def _check_eval_mode(eval_mode):
    if eval_mode not in EVAL_MODES:
        raise ValueError(
            f"Unknown `eval_mode`. Expected one of {list(EVAL_MODES)}. "
            f"Received: eval_mode={eval_mode!r}"
        )


def _check_pair(value, name, positive=True):
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) for v in value)
        and value[0] <= value[1]
        and (not positive or value[0] > 0)
    )
    if not ok:
        raise ValueError(
            f"`{name}` must be a pair (min, max) with 0 < min <= max. "
            f"Received: {name}={value!r}"
        )
    return float(value[0]), float(value[1])


def _split_element(element):
    """`(image, label)` from a tuple or a dict element."""
    if isinstance(element, dict):
        return element["image"], element["label"]
    return element[0], element[1]


def _check_element_spec(ds):
    spec = ds.element_spec
    if isinstance(spec, dict):
        missing = {"image", "label"} - set(spec)
        if missing:
            raise ValueError(
                "Dataset elements must be (image, label) tuples or dicts with "
                f"'image' and 'label' keys; missing {sorted(missing)}. "
                f"Received element_spec={spec!r}"
            )
        image_spec = spec["image"]
    elif isinstance(spec, tuple) and len(spec) >= 2:
        image_spec = spec[0]
    else:
        raise ValueError(
            "Dataset elements must be (image, label) tuples or dicts with "
            f"'image' and 'label' keys. Received element_spec={spec!r}"
        )
    dtype = image_spec.dtype
    if dtype == tf.string:
        if image_spec.shape.rank not in (0, None):
            raise ValueError(
                "Encoded images must be scalar strings (one image per "
                f"element). Received image spec {image_spec!r}"
            )
    elif not (dtype.is_integer or dtype.is_floating) or (
        image_spec.shape.rank not in (3, None)
    ):
        raise ValueError(
            "Images must be (height, width, channels) uint8 / float tensors "
            "(one image per element; unbatch first) or encoded strings. "
            f"Received image spec {image_spec!r}"
        )


def _to_float(image, channels):
    """Decodes if needed; returns (float32 image, pixel_max)."""
    if image.dtype == tf.string:
        image = tf.io.decode_image(
            image, channels=channels, expand_animations=False
        )
    if image.dtype.is_integer:
        if image.dtype != tf.uint8:
            raise ValueError(
                f"Integer images must be uint8. Received dtype {image.dtype}"
            )
        pixel_max = 255.0
    else:
        pixel_max = 1.0
    image = tf.cast(image, tf.float32)
    if image.shape[-1] == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    image.set_shape([None, None, channels])
    return image, pixel_max


def preprocess(
    ds,
    data_config=None,
    training=False,
    *,
    batch_size=None,
    eval_mode="paper",
    normalize=True,
    shuffle=None,
    shuffle_buffer_size=10_000,
    seed=None,
    deterministic=False,
    cache=False,
    drop_remainder=None,
    num_parallel_calls=AUTOTUNE,
    prefetch=True,
    scale=(0.08, 1.0),
    ratio=(3 / 4, 4 / 3),
    flip_prob=0.5,
):
    """Applies the paper's transforms, then shuffles, batches and prefetches.

    Training (`training=True`), per image (the paper's protocol):
    `RandomResizedCrop(input_size, scale, ratio)` (torchvision's algorithm,
    10 attempts then a centre-crop fallback) -> horizontal flip with
    probability `flip_prob` -> scale to [0, 1] -> `(x - mean) / std`.

    Evaluation, by `eval_mode`:

    - `"paper"`: the paper's one-crop, `Resize(size)` (shorter side) ->
      `CenterCrop(size)` (e.g. 224 -> 224; identity on CIFAR's 32).
    - `"crop_pct"`: the usual `Resize(floor(size / crop_pct))` ->
      `CenterCrop(size)` (256 -> 224 with `crop_pct=0.875`).
    - `"ten_crop"`: `Resize(floor(size / crop_pct))` -> five crops (corners
      then centre) + their mirrors: each image becomes `(10, H, W, C)`
      (index `5 + i` is crop `i` flipped). With `crop_pct=0.875` this is the
      paper's 256 -> 224 and 36 -> 32.

    All constants (`input_size`, `crop_pct`, `interpolation`, `mean`,
    `std`) come from `data_config`. Resizing is antialiased and, for uint8
    images, rounded to the uint8 grid (torchvision semantics, see
    `keras_cmod.data.transforms`).

    Randomness: each example gets its own stateless seed, drawn from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`, so a
    fixed `seed` (with TensorFlow's global seed, e.g. from
    `keras.utils.set_random_seed`) reproduces the same epochs, while every
    epoch gets new crops.

    Args:
        ds: a `tf.data.Dataset` of single (unbatched) examples, either
            `(image, label)` tuples or dicts with `"image"` and `"label"`.
            Images are `(H, W, C)` uint8 (0..255), float (0..1), or encoded
            JPEG/PNG/BMP strings (decoded here).
        data_config: a data config or a preset's `pretrained_cfg` (passed
            through `resolve_data_config`); `None` uses
            `IMAGENET_DEFAULT_CFG`.
        training: bool, training transforms and shuffling if `True`.
        batch_size: int > 0, or `None` for unbatched output.
        eval_mode: `"paper"`, `"crop_pct"` or `"ten_crop"` (evaluation only).
        normalize: bool. If `False`, output images in [0, 1] without
            mean/std normalisation (as the reference code's shift metrics).
        shuffle: bool; defaults to `training`.
        shuffle_buffer_size: int > 0, the shuffle buffer.
        seed: int or `None`: seeds the shuffle and the per-example
            augmentation seeds. `None` with `deterministic=True` means 0.
        deterministic: bool. If `True`, the output order and values are
            reproducible (tf.data `deterministic` option on, seed defaults to
            0). If `False`, training maps may reorder for speed.
        cache: `False`, `True` (in memory) or a file path prefix. Training
            caches the decoded inputs before augmentation (augmentations stay
            random); evaluation caches the transformed images.
        drop_remainder: bool; defaults to `training`.
        num_parallel_calls: map parallelism (default `tf.data.AUTOTUNE`).
        prefetch: bool, add `prefetch(AUTOTUNE)` at the end.
        scale: `(min, max)` RandomResizedCrop area fraction.
        ratio: `(min, max)` RandomResizedCrop aspect ratio.
        flip_prob: float in [0, 1], horizontal flip probability.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: images float32
        `(B, H, W, C)` (or `(B, 10, H, W, C)` for ten-crop; no `B` if
        `batch_size` is `None`), labels int32 `(B,)`. Ready for
        `model.fit` / `model.evaluate`.

    Raises:
        ValueError: for an invalid `batch_size`, `eval_mode`,
            `shuffle_buffer_size`, `scale`, `ratio`, `flip_prob` or element
            structure, or an invalid data config.
        TypeError: if `ds` is not a `tf.data.Dataset`.
    """
    # ---- validation: everything before any dataset op is built ----
    if not isinstance(ds, tf.data.Dataset):
        raise TypeError(
            f"`ds` must be a tf.data.Dataset. Received: ds of type "
            f"{type(ds).__name__}"
        )
    if batch_size is not None and (
        not isinstance(batch_size, numbers.Integral)
        or isinstance(batch_size, bool)
        or batch_size <= 0
    ):
        raise ValueError(
            f"`batch_size` must be a positive int or None. "
            f"Received: batch_size={batch_size!r}"
        )
    _check_eval_mode(eval_mode)
    if (
        not isinstance(shuffle_buffer_size, numbers.Integral)
        or shuffle_buffer_size <= 0
    ):
        raise ValueError(
            f"`shuffle_buffer_size` must be a positive int. "
            f"Received: shuffle_buffer_size={shuffle_buffer_size!r}"
        )
    scale = _check_pair(scale, "scale")
    ratio = _check_pair(ratio, "ratio")
    if not isinstance(flip_prob, numbers.Real) or not 0 <= flip_prob <= 1:
        raise ValueError(
            f"`flip_prob` must be in [0, 1]. Received: flip_prob={flip_prob!r}"
        )
    _check_element_spec(ds)
    cfg = resolve_data_config(data_config)
    height, width, channels = cfg["input_size"]
    interpolation = cfg["interpolation"]
    mean, std = cfg["mean"], cfg["std"]
    if shuffle is None:
        shuffle = training
    if drop_remainder is None:
        drop_remainder = training
    if deterministic and seed is None:
        seed = 0
    resize_h, resize_w = eval_resize_size(cfg, eval_mode)
    square = height == width

    def finish(image, pixel_max):
        image = image / pixel_max
        if normalize:
            image = transforms.normalize(image, mean, std)
        return image

    def train_map(element, example_seed):
        image, label = _split_element(element)
        image, pixel_max = _to_float(image, channels)
        seeds = tf.random.experimental.stateless_split(example_seed, num=2)
        image = transforms.random_resized_crop(
            image,
            seeds[0],
            height,
            width,
            scale=scale,
            ratio=ratio,
            interpolation=interpolation,
            pixel_max=pixel_max,
        )
        if flip_prob > 0:
            image = transforms.random_flip_left_right(
                image, seeds[1], flip_prob
            )
        return finish(image, pixel_max), tf.cast(label, tf.int32)

    def eval_map(*element):
        # tf.data unpacks tuple elements into positional arguments.
        element = element[0] if len(element) == 1 else element
        image, label = _split_element(element)
        image, pixel_max = _to_float(image, channels)
        if square:
            image = transforms.resize_shorter_side(
                image, resize_h, interpolation, pixel_max
            )
        else:
            image = transforms.resize(
                image, resize_h, resize_w, interpolation, pixel_max
            )
        if eval_mode == "ten_crop":
            image = transforms.ten_crop(image, height, width)
        else:
            image = transforms.center_crop(image, height, width)
        return finish(image, pixel_max), tf.cast(label, tf.int32)

    def apply_cache(d):
        if cache is False or cache is None:
            return d
        return d.cache("" if cache is True else str(cache))

    # Map `deterministic`: reorder only when training and allowed to.
    map_deterministic = bool(deterministic or not training)
    if training:
        ds = apply_cache(ds)
        if shuffle:
            ds = ds.shuffle(
                shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
            )
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2, drop_remainder=True)
        ds = tf.data.Dataset.zip((ds, seeds))
        ds = ds.map(
            train_map,
            num_parallel_calls=num_parallel_calls,
            deterministic=map_deterministic,
        )
    else:
        if shuffle:
            ds = ds.shuffle(
                shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
            )
        ds = ds.map(
            eval_map,
            num_parallel_calls=num_parallel_calls,
            deterministic=map_deterministic,
        )
        ds = apply_cache(ds)
    if batch_size is not None:
        ds = ds.batch(
            batch_size,
            drop_remainder=drop_remainder,
            num_parallel_calls=num_parallel_calls,
            deterministic=map_deterministic,
        )
    options = tf.data.Options()
    options.deterministic = map_deterministic
    ds = ds.with_options(options)
    if prefetch:
        ds = ds.prefetch(AUTOTUNE)
    return ds

"""Datasets: ImageNet and CIFAR-10 through TFDS, and image folders.

`load` is a thin wrapper around `tfds.load` that adds the paper's held-out
validation splits and checks, before any work starts, that the data can be
found. `image_folder` reads a folder of class sub-folders. Both return a
`tf.data.Dataset` of `(image, label)`; pass it to
`keras_cmod.data.preprocess`.

Split names (`split=` of `load`)
--------------------------------

The TFDS splits keep their TFDS names and slicing syntax (`"train"`,
`"train[:10%]"`, `"validation"`, `"train[:100]+test"`, ...). Note that the
paper's ImageNet *"test"* set is the official 50,000-image validation set,
i.e. TFDS's `"validation"`; TFDS's own `"test"` is the unlabelled
ILSVRC2012 test set. Three more names give the paper's held-out splits
(the reference code's), carved out of the training set:

- `"heldout"` (alias `"val"`): ImageNet, the first 100 images of each
  class (100,000 images); CIFAR-10, the first 5,000 training images.
- `"train_minus_heldout"`: the rest of the training set (ImageNet
  1,181,167 images; CIFAR-10 45,000).

"First" follows the reference code (hubert-leterme/wcnn, built on
torchvision), not the TFDS storage order, which is shuffled:

- **ImageNet**: torchvision's `ImageFolder` lists each class folder's files
  sorted by file name (Python string order: `n01440764_10026.JPEG` comes
  before `n01440764_9.JPEG`), and the reference keeps the first 100 of each
  class. Here: within each label, sort the TFDS `file_name` feature (the
  same names as in `ILSVRC2012_img_train.tar`) with Python's `sorted` and
  keep the first `heldout_size` (default 100). This needs one pass over the
  `file_name`/`label` features of the train split (images are not decoded);
  the resulting list is cached as a text file (one name per line) at
  `<data_dir>/keras_cmod/imagenet2012-<version>-heldout-first<k>.txt`
  (or at `heldout_file=`), and examples are kept or dropped by a hash-table
  lookup of their `file_name`.
- **CIFAR-10**: torchvision's `CIFAR10` reads `data_batch_1..5` in order and
  the reference keeps indices 0..4999. TFDS stores that original index in
  the `id` feature (`"train_00000"` ... `"train_49999"`) but shuffles the
  storage order, so `train[:5000]` would *not* be the same images. Here:
  held out iff `int(id[len("train_"):]) < heldout_size` (default 5,000).

Both definitions are deterministic and independent of `shuffle_files`.
"""

import collections
import importlib.util
import logging
import os
import re

import tensorflow as tf

logger = logging.getLogger(__name__)

DATASETS = ("imagenet2012", "cifar10")
HELDOUT_SPLITS = ("heldout", "val", "train_minus_heldout")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
CHECK_IMAGES = ("header", "full", "none")

# TFDS base splits of each dataset.
_BASE_SPLITS = {
    "imagenet2012": ("train", "validation", "test"),
    "cifar10": ("train", "test"),
}
# Default held-out size: images per class (ImageNet) / first images (CIFAR).
DEFAULT_HELDOUT_SIZE = {"imagenet2012": 100, "cifar10": 5000}
# The archive TFDS needs in `manual_dir` to generate each ImageNet split.
IMAGENET_TARS = {
    "train": "ILSVRC2012_img_train.tar",
    "validation": "ILSVRC2012_img_val.tar",
    "test": "ILSVRC2012_img_test.tar",
}

_SPLIT_PART = re.compile(r"^\s*([A-Za-z_]+)\s*(\[[^\[\]]*\])?\s*$")

# File signatures accepted by `tf.io.decode_image`.
_SIGNATURES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"BM",  # BMP
    b"GIF87a",
    b"GIF89a",
)


def _tfds():
    """Imports tensorflow_datasets lazily (with a clear error if unusable)."""
    if importlib.util.find_spec("importlib_resources") is None:
        # tfds 4.9.x imports it lazily on first use without declaring it.
        raise ImportError(
            "tensorflow-datasets needs the `importlib_resources` package, "
            "which it does not install itself: `pip install "
            "importlib_resources`."
        )
    import tensorflow_datasets as tfds

    return tfds


def _default_data_dir():
    return os.environ.get(
        "TFDS_DATA_DIR",
        os.path.join(os.path.expanduser("~"), "tensorflow_datasets"),
    )


def _check_name(name):
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset. Expected one of {list(DATASETS)} (for your "
            "own images use `keras_cmod.data.image_folder(path)`). "
            f"Received: name={name!r}"
        )


def _parse_split(name, split):
    """Returns (kind, base_splits): kind is the held-out name or "tfds"."""
    allowed = list(_BASE_SPLITS[name]) + list(HELDOUT_SPLITS)
    message = (
        f"Unknown split for {name}. Expected one of {allowed}, or TFDS "
        "slicing of "
        f"{list(_BASE_SPLITS[name])} such as 'train[:10%]' or "
        f"'train[:1000]+test'. Received: split={split!r}"
    )
    if not isinstance(split, str):
        raise ValueError(message)
    if split in HELDOUT_SPLITS:
        return ("heldout" if split == "val" else split), ("train",)
    bases = []
    for part in split.split("+"):
        match = _SPLIT_PART.match(part)
        if match is None or match.group(1) not in _BASE_SPLITS[name]:
            raise ValueError(message)
        bases.append(match.group(1))
    return "tfds", tuple(dict.fromkeys(bases))


def _check_available(builder, name, bases, data_dir, manual_dir, download):
    """Raises early if the requested splits cannot be read or generated."""
    where = data_dir or _default_data_dir()
    if builder.is_prepared():
        available = sorted(builder.info.splits.keys())
        missing = [b for b in bases if b not in available]
        if missing:
            hint = ""
            if name == "imagenet2012":
                tars = [IMAGENET_TARS[b] for b in missing]
                hint = (
                    f" Delete {builder.data_dir} and prepare again with "
                    f"{tars} in the manual directory."
                )
            raise ValueError(
                f"{name} in {where} was prepared without the split(s) "
                f"{missing} (available: {available}). TFDS cannot add a "
                f"split to a prepared dataset.{hint}"
            )
        return
    if not download:
        raise FileNotFoundError(
            f"{name} is not prepared in data_dir={where!r} and "
            "download=False. Pass download=True to prepare it"
            + (
                " from the ILSVRC2012 tars in manual_dir."
                if name == "imagenet2012"
                else " (needs network access)."
            )
        )
    if name == "imagenet2012":
        mdir = manual_dir or os.path.join(where, "downloads", "manual")
        missing = [
            os.path.join(mdir, IMAGENET_TARS[b])
            for b in bases
            if not tf.io.gfile.exists(os.path.join(mdir, IMAGENET_TARS[b]))
        ]
        if missing:
            tar_list = ", ".join(f"{k}: {v}" for k, v in IMAGENET_TARS.items())
            raise FileNotFoundError(
                "ImageNet (imagenet2012) must be downloaded by hand "
                "(register at https://image-net.org/download-images). "
                f"Missing file(s): {missing}. Put them in the manual "
                "directory (`manual_dir=`, default "
                "<data_dir>/downloads/manual). TFDS generates each split "
                f"only if its tar is there ({tar_list}): for evaluation "
                "alone, ILSVRC2012_img_val.tar is enough."
            )


def heldout_file_names(file_names, labels, per_class=100):
    """The first `per_class` file names of each class, in sorted order.

    This is the reference's held-out ImageNet split: torchvision's
    `ImageFolder` sorts each class folder by file name (Python string
    order) and the reference keeps the first 100 images of each class.

    Args:
        file_names: iterable of str or bytes (e.g. `"n01440764_10026.JPEG"`).
        labels: iterable of int class indices, aligned with `file_names`.
        per_class: int > 0, images kept per class.

    Returns:
        A list of str: for each label in increasing order, its
        `per_class` smallest file names (all of them if it has fewer).
    """
    groups = collections.defaultdict(list)
    for fname, label in zip(file_names, labels):
        if isinstance(fname, bytes):
            fname = fname.decode("utf-8")
        groups[int(label)].append(fname)
    out = []
    for label in sorted(groups):
        out.extend(sorted(groups[label])[:per_class])
    return out


def _imagenet_heldout_names(tfds, per_class, cache_path, load_kwargs):
    if tf.io.gfile.exists(cache_path):
        with tf.io.gfile.GFile(cache_path, "r") as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f"Held-out file {cache_path} is empty.")
        return names
    logger.info(
        "Listing the imagenet2012 train file names to define the held-out "
        "split (one pass over the train records, no image decoding); the "
        "result is cached at %s",
        cache_path,
    )
    ds = tfds.load(
        "imagenet2012",
        split="train",
        decoders=tfds.decode.PartialDecoding(
            {"file_name": True, "label": True}
        ),
        **load_kwargs,
    )
    ds = ds.map(lambda ex: (ex["file_name"], ex["label"])).batch(8192)
    file_names, labels = [], []
    for names, labs in ds.as_numpy_iterator():
        file_names.extend(names.tolist())
        labels.extend(labs.tolist())
    names = heldout_file_names(file_names, labels, per_class)
    try:
        tf.io.gfile.makedirs(os.path.dirname(cache_path) or ".")
        tmp = cache_path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            f.write("\n".join(names) + "\n")
        tf.io.gfile.rename(tmp, cache_path, overwrite=True)
    except (OSError, tf.errors.OpError) as err:  # read-only dir: go on
        logger.warning("Could not cache the held-out list: %s", err)
    return names


def _membership_filter(names, keep_members):
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(names, tf.string),
            tf.ones([len(names)], tf.int64),
        ),
        default_value=0,
    )

    def predicate(ex):
        member = tf.equal(table.lookup(ex["file_name"]), 1)
        return member if keep_members else tf.logical_not(member)

    return predicate


def _cifar_index(example_id):
    """Original CIFAR index from the TFDS id "train_01234"."""
    digits = tf.strings.regex_replace(example_id, r"^[A-Za-z]+_", "")
    return tf.strings.to_number(digits, out_type=tf.int64)


def load(
    name,
    split,
    *,
    data_dir=None,
    manual_dir=None,
    download=True,
    decode=True,
    shuffle_files=False,
    seed=None,
    heldout_size=None,
    heldout_file=None,
):
    """Loads a TFDS dataset split, including the paper's held-out splits.

    A thin call to `tfds.load` (plus a filter for the held-out splits; see
    the module docstring for their exact definition). All checks run before
    TFDS is asked to do anything.

    ImageNet is a manual download: put `ILSVRC2012_img_train.tar` and/or
    `ILSVRC2012_img_val.tar` in `manual_dir` (default
    `<data_dir>/downloads/manual`). TFDS generates a split only if its tar
    exists, so the validation tar alone is enough for evaluation. CIFAR-10
    is downloaded by TFDS (network needed, unless already prepared in
    `data_dir`).

    Args:
        name: `"imagenet2012"` or `"cifar10"`.
        split: a TFDS split (`"train"`, `"validation"`, `"test"`, with TFDS
            slicing such as `"train[:1%]"`), or `"heldout"` (alias `"val"`)
            or `"train_minus_heldout"`.
        data_dir: TFDS data directory (default: `$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        manual_dir: ImageNet only: folder holding the ILSVRC2012 tars.
        download: bool, let TFDS prepare the dataset if it is not prepared.
        decode: bool. If `False`, images stay encoded JPEG/PNG strings
            (`preprocess` decodes them), which makes caching cheaper.
        shuffle_files: bool, TFDS file-level shuffling (for training).
        seed: int or `None`, seed of the file shuffling.
        heldout_size: held-out size: images per class for ImageNet (default
            100), first training images for CIFAR-10 (default 5,000).
        heldout_file: ImageNet only: text file with the held-out file names
            (one per line). Read if it exists, else computed and written
            there. Defaults to a cache file under `data_dir`.

    Returns:
        A `tf.data.Dataset` of `(image, label)`: image uint8 `(H, W, 3)`
        (or a scalar string if `decode=False`), label int64 (TFDS order:
        sorted WordNet ids for ImageNet, the Keras order).

    Raises:
        ValueError: unknown `name` or `split`, invalid `heldout_size`,
            `manual_dir`/`heldout_file` for a dataset that has no use for
            them, or a prepared dataset that lacks the needed split.
        FileNotFoundError: the dataset is not prepared and `download=False`,
            or ImageNet tars are missing from the manual directory (the
            message lists the exact paths expected).
        ImportError: `importlib_resources` (needed by TFDS) is missing.
    """
    _check_name(name)
    kind, bases = _parse_split(name, split)
    if heldout_size is None:
        heldout_size = DEFAULT_HELDOUT_SIZE[name]
    if (
        not isinstance(heldout_size, int)
        or isinstance(heldout_size, bool)
        or heldout_size <= 0
    ):
        raise ValueError(
            f"`heldout_size` must be a positive int. "
            f"Received: heldout_size={heldout_size!r}"
        )
    if name != "imagenet2012":
        for arg, value in (
            ("manual_dir", manual_dir),
            ("heldout_file", heldout_file),
        ):
            if value is not None:
                raise ValueError(
                    f"`{arg}` is only used by imagenet2012. Received: "
                    f"{arg}={value!r} for name={name!r}"
                )
    tfds = _tfds()
    builder = tfds.builder(name, data_dir=data_dir)
    _check_available(builder, name, bases, data_dir, manual_dir, download)

    load_kwargs = {"data_dir": data_dir, "download": download}
    if manual_dir is not None:
        load_kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(
                manual_dir=os.fspath(manual_dir)
            )
        }
    read_config = None
    if shuffle_files and seed is not None:
        read_config = tfds.ReadConfig(shuffle_seed=seed)
    # Held-out splits filter *before* decoding: the filter reads only `id` /
    # `file_name`, so the dropped images are never decoded.
    skip_decoding = not decode or kind != "tfds"
    decoders = {"image": tfds.decode.SkipDecoding()} if skip_decoding else None

    base_split = split if kind == "tfds" else "train"
    ds = tfds.load(
        name,
        split=base_split,
        decoders=decoders,
        shuffle_files=shuffle_files,
        read_config=read_config,
        **load_kwargs,
    )
    if kind != "tfds":
        keep_heldout = kind == "heldout"
        if name == "cifar10":

            def predicate(ex):
                member = _cifar_index(ex["id"]) < heldout_size
                return member if keep_heldout else tf.logical_not(member)

        else:
            cache_path = heldout_file or os.path.join(
                data_dir or _default_data_dir(),
                "keras_cmod",
                f"imagenet2012-{builder.version}-heldout-first"
                f"{heldout_size}.txt",
            )
            names = _imagenet_heldout_names(
                tfds, heldout_size, os.fspath(cache_path), load_kwargs
            )
            predicate = _membership_filter(names, keep_heldout)
        ds = ds.filter(predicate)

    def to_pair(ex):
        image = ex["image"]
        if decode and image.dtype == tf.string:
            # What TFDS's Image feature does for these 3-channel datasets.
            image = tf.io.decode_image(
                image, channels=3, expand_animations=False
            )
        return image, ex["label"]

    return ds.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE)


def list_image_folder(path, check_images="header"):
    """Lists a folder of class sub-folders (torchvision `ImageFolder` order).

    Class names are the sub-folder names, sorted; label `i` is the `i`-th
    name. Images are the files (searched recursively, sorted by path within
    each class) whose extension is one of `IMAGE_EXTENSIONS`
    (case-insensitive). Unlike `ImageFolder`, hidden folders (name starting
    with ".") are skipped.

    Args:
        path: the root folder, laid out as `path/<class>/<image>`.
        check_images: `"header"` (default: every file must start with a
            JPEG/PNG/BMP/GIF signature and hold its end marker - a JPEG's
            EOI, a PNG's IEND, a BMP's stated size - so a truncated file is
            named before any training; fast), `"full"` (decode every image
            once; slow for big folders) or `"none"`.

    Returns:
        `(file_paths, labels, class_names)`: lists of str, int and str.

    Raises:
        FileNotFoundError: if `path` is not a folder.
        ValueError: no class sub-folders, a class folder without images,
            an unreadable image (the message names the files), or an
            unknown `check_images`.
    """
    if check_images not in CHECK_IMAGES and check_images is not None:
        raise ValueError(
            f"Unknown `check_images`. Expected one of {list(CHECK_IMAGES)}. "
            f"Received: check_images={check_images!r}"
        )
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"Image folder not found (or not a folder): {path!r}"
        )
    classes = sorted(
        entry.name
        for entry in os.scandir(path)
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if not classes:
        loose = [
            f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
        extra = (
            f" It holds {len(loose)} image file(s) directly: move them into "
            "one sub-folder per class."
            if loose
            else ""
        )
        raise ValueError(
            f"No class sub-folders in {path!r}. Expected the layout "
            f"{path}/<class_name>/<image>{{{','.join(IMAGE_EXTENSIONS)}}}."
            + extra
        )
    files, labels, empty = [], [], []
    for label, cls in enumerate(classes):
        found = []
        for root, dirs, fnames in sorted(
            os.walk(os.path.join(path, cls), followlinks=True)
        ):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for fname in sorted(fnames):
                if fname.lower().endswith(IMAGE_EXTENSIONS):
                    found.append(os.path.join(root, fname))
        if not found:
            empty.append(cls)
        files.extend(found)
        labels.extend([label] * len(found))
    if empty:
        raise ValueError(
            f"No images with extensions {list(IMAGE_EXTENSIONS)} in the "
            f"class folder(s) {empty[:10]}"
            + (f" (and {len(empty) - 10} more)" if len(empty) > 10 else "")
            + f" of {path!r}."
        )
    if check_images in ("header", "full"):
        _check_image_files(files, full=check_images == "full")
    return files, labels, classes


_TAIL = 4096


def _truncated(head, f):
    """Why an image whose signature is valid is cut short, or `None`.

    A JPEG ends with its EOI marker (`FF D9`, which cannot occur inside the
    byte-stuffed entropy-coded data), a PNG with its `IEND` chunk, a BMP is
    at least the size its header states. Trailing bytes after the end
    marker are allowed. Only the last few kilobytes are read.
    """
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - _TAIL))
    tail = f.read()
    if head.startswith(b"\xff\xd8\xff") and b"\xff\xd9" not in tail:
        return "truncated JPEG: no end-of-image marker"
    if head.startswith(b"\x89PNG") and b"IEND" not in tail:
        return "truncated PNG: no IEND chunk"
    if head.startswith(b"BM") and len(head) >= 6:
        stated = int.from_bytes(head[2:6], "little")
        if 0 < size < stated:
            return f"truncated BMP: {size} of {stated} bytes"
    return None


def _check_image_files(files, full):
    bad = []
    for fname in files:
        try:
            with open(fname, "rb") as f:
                data = f.read() if full else f.read(8)
                why = (None if not data.startswith(_SIGNATURES)
                       else _truncated(data, f))
        except OSError as err:
            bad.append(f"{fname} ({err.strerror})")
            continue
        if not data.startswith(_SIGNATURES):
            bad.append(f"{fname} (not a JPEG/PNG/BMP/GIF file)")
        elif why:
            bad.append(f"{fname} ({why})")
        elif full:
            try:
                tf.io.decode_image(data, channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, ValueError) as err:
                msg = str(err).strip().splitlines()[0][:120]
                bad.append(f"{fname} (decode error: {msg})")
    if bad:
        raise ValueError(
            f"{len(bad)} unreadable image file(s): {bad[:10]}"
            + (" ..." if len(bad) > 10 else "")
            + ". Remove or fix them."
        )


def image_folder(
    path,
    *,
    decode=True,
    channels=3,
    shuffle_files=False,
    seed=None,
    check_images="header",
    with_info=False,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """A dataset from a folder of class sub-folders (custom data).

    See `list_image_folder` for the layout, the label order and the checks
    (all done before the dataset is built). Images are decoded with
    `tf.io.decode_image(channels=channels, expand_animations=False)`.

    Args:
        path: root folder, `path/<class>/<image>.{jpg,jpeg,png,bmp}`.
        decode: bool. If `False`, yield the encoded file bytes instead
            (`preprocess` decodes them).
        channels: 3 (RGB; grayscale images are converted) or 1.
        shuffle_files: bool. If `True`, the file list is fully reshuffled
            at every iteration (the files are sorted by class otherwise, too
            ordered for a bounded shuffle buffer).
        seed: int or `None`, seed of that shuffle.
        check_images: `"header"`, `"full"` or `"none"` (see
            `list_image_folder`).
        with_info: bool. If `True`, also return the class names.
        num_parallel_calls: read/decode parallelism.

    Returns:
        A `tf.data.Dataset` of `(image, label)`: image uint8
        `(H, W, channels)` (or a scalar string if `decode=False`), label
        int64. With `with_info=True`, `(dataset, class_names)`.

    Raises:
        FileNotFoundError: if `path` is not a folder.
        ValueError: see `list_image_folder`; or `channels` not 1 or 3.
    """
    if channels not in (1, 3):
        raise ValueError(
            f"`channels` must be 1 or 3. Received: channels={channels!r}"
        )
    files, labels, classes = list_image_folder(path, check_images)
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(files, tf.string), tf.constant(labels, tf.int64))
    )
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def read(fname, label):
        data = tf.io.read_file(fname)
        if decode:
            data = tf.io.decode_image(
                data, channels=channels, expand_animations=False
            )
        return data, label

    ds = ds.map(read, num_parallel_calls=num_parallel_calls)
    return (ds, classes) if with_info else ds

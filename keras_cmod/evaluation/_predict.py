"""Private helpers: input normalisation and batched prediction."""

import collections

import numpy as np

from keras_cmod.evaluation._image import check_positive_int


def make_input_transform(normalize=True, mean=None, std=None,
                         preprocess=None):
    """Returns the function applied to each float32 NHWC batch of frames.

    Frames are first normalised with `(x - mean) / std` when `normalize`,
    then passed through `preprocess` when given. The constants always come
    from the caller (the model's preset), never from this module.

    Raises:
        ValueError: if `normalize` is true and `mean` or `std` is missing,
            if `std` has a zero, or if `preprocess` is not callable.
    """
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(
            f"`normalize` must be True or False. Received: "
            f"normalize={normalize!r}"
        )
    if preprocess is not None and not callable(preprocess):
        raise ValueError(
            f"`preprocess` must be a callable or None. Received: "
            f"preprocess={preprocess!r}"
        )
    if normalize:
        if mean is None or std is None:
            raise ValueError(
                "normalize=True needs the `mean` and `std` of the model's "
                "preset (per channel); pass normalize=False to feed the "
                "un-normalised frames, as the reference shift metrics did. "
                f"Received: mean={mean!r}, std={std!r}"
            )
        mean_arr = np.asarray(mean, dtype=np.float32)
        std_arr = np.asarray(std, dtype=np.float32)
        if np.any(std_arr == 0):
            raise ValueError(
                f"`std` must be non-zero. Received: std={std!r}"
            )
    elif mean is not None or std is not None:
        raise ValueError(
            "`mean`/`std` were given but normalize=False; drop them or set "
            f"normalize=True. Received: mean={mean!r}, std={std!r}"
        )

    def transform(batch):
        batch = np.asarray(batch, dtype=np.float32)
        if normalize:
            batch = (batch - mean_arr) / std_arr
        if preprocess is not None:
            batch = preprocess(batch)
        return batch

    return transform


def _call(predict_fn, batch, ndim):
    import keras

    if isinstance(predict_fn, keras.Model):
        out = predict_fn(batch, training=False)
    else:
        out = predict_fn(batch)
    out = np.asarray(keras.ops.convert_to_numpy(out))
    if out.ndim != ndim or out.shape[0] != len(batch):
        what = (
            "an (N, num_classes) array of scores"
            if ndim == 2
            else f"a {ndim}-D array with N rows"
        )
        raise ValueError(
            f"`predict_fn` must map a batch of N frames to {what}. Received "
            f"output of shape {out.shape} for a batch of {len(batch)} frames"
        )
    return out


def predict_groups(predict_fn, groups, batch_size, transform, ndim=2):
    """Runs `predict_fn` on groups of frames, batching across groups.

    Frames are buffered until `batch_size` of them are ready (a group may
    be split over two calls), and each group's outputs are yielded as soon
    as they are complete, so a stream of images is evaluated in constant
    memory.

    Args:
        predict_fn: a `keras.Model` (called with `training=False`) or any
            callable mapping a float32 NHWC batch to `(N, classes)` scores.
        groups: an iterable of `(n_i, H, W, C)` frame stacks (e.g. the
            frames of one image); frames of one batch must share a shape.
        batch_size: frames per model call.
        transform: applied to every batch before the call.
        ndim: expected rank of the outputs (2 for class scores, 4 for
            feature maps).

    Returns:
        A generator yielding one `(n_i, ...)` output array per group, in
        order.

    Raises:
        ValueError: if `predict_fn` is not callable, `batch_size` is not a
            positive int, or (when iterated) the model output has a wrong
            shape.
    """
    if not callable(predict_fn):
        raise ValueError(
            f"`predict_fn` must be a keras.Model or a callable. Received: "
            f"predict_fn={predict_fn!r}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    return _predict_stream(predict_fn, groups, batch_size, transform, ndim)


def _predict_stream(predict_fn, groups, batch_size, transform, ndim):
    sizes = collections.deque()  # frame counts of groups not yet yielded
    pending = []  # frames (or parts of stacks) not yet predicted
    n_pending = 0
    done = []  # outputs not yet yielded
    n_done = 0

    def run(n):
        nonlocal pending, n_pending, n_done
        stack = np.concatenate(pending, axis=0)
        take, rest = stack[:n], stack[n:]
        out = _call(predict_fn, transform(take), ndim)
        done.append(out)
        n_done += len(out)
        pending = [rest] if len(rest) else []
        n_pending = len(rest)

    def ready():
        nonlocal done, n_done
        while sizes and n_done >= sizes[0]:
            n = sizes.popleft()
            outs = np.concatenate(done, axis=0) if done else None
            if outs is None:
                outs = np.zeros((0,))
            yield outs[:n]
            rest = outs[n:]
            done = [rest] if len(rest) else []
            n_done = len(rest)

    for frames in groups:
        frames = np.asarray(frames)
        sizes.append(len(frames))
        if len(frames):
            pending.append(frames)
            n_pending += len(frames)
        while n_pending >= batch_size:
            run(batch_size)
        yield from ready()
    if n_pending:
        run(n_pending)
    yield from ready()

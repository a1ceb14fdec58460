"""`keras-cmod demo`: RMax vs CMod first layers on real photos, offline.

What is measured on what (also printed):

* Images: scikit-image's bundled photos (or `--images DIR`), resized so
  that the shorter side is 240 px and centre-cropped to 240x240; shifted
  224x224 crops are taken from them.
* Layers: the first-layer blocks of ResNet-34 and AlexNet, as built by
  keras-cmod, *untrained*: no trained weights are published, so nothing
  here depends on them. The twins' Gabor channels come from the fixed
  DT-CWPT; their packet mixing is set to select one packet per channel
  (the limit the paper's packet-selection penalty drives training to), so
  each Gabor channel is a genuine DT-CWPT wavelet packet. The free channels
  and the standard layer are randomly initialised and are only used for
  parameter counts and cost, not for the shift measurements.
* Shift stability: relative L2 change of each Gabor channel's output when
  the crop moves by 1..8 px diagonally, the nearest whole output shift
  compensated and the borders reached by zero padding left out
  (`keras_cmod.evaluation.first_layer_stability`), for RMax
  (`MaxPool(Re(x * W))`) and CMod (`|x * W|` at twice the stride) on the
  same kernels; RMax-CMod similarity is the cosine similarity of the two
  outputs on the same grid.
* Cost: trainable parameters, multiply-accumulates of the first-layer
  block on the path that runs (training transforms the three colour
  planes, inference the luminance image alone; the standard layer is the
  same in both), its measured forward+backward time on this machine
  (median of a few runs, noisy), and the paper's analytic
  per-Gabor-channel ratios (Table III).
"""

import os
import time

import numpy as np

from keras_cmod import _atomic

DEFAULT_SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Output samples whose receptive field reaches the zero padding of the crop
# (ceil(P / 2m) + 1 for the DT-CWPT padding P): left out of the shift
# comparison, as they move with the crop, not with the content.
MARGIN = {"resnet": 5, "alexnet": 6}
FAMILIES = {
    # family: (zoo model, image size, total stride 2m)
    "resnet": ("resnet34", 224, 4),
    "alexnet": ("alexnet", 224, 8),
}


def register(subparsers):
    p = subparsers.add_parser(
        "demo",
        help="RMax vs CMod first layers on real photos (offline)",
        description=(
            "Compare the standard, twin (RMax) and CMod first layers of "
            "ResNet-34 and AlexNet on real photos: shift stability, RMax-CMod "
            "similarity, parameters and cost. Fully offline; untrained "
            "layers (see the printed notes)."
        ),
    )
    p.add_argument("--images", default=None,
                   help="folder of photos (default: scikit-image samples)")
    p.add_argument("--output", default="keras_cmod_demo",
                   help="folder for the table, JSON and PNGs")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per cost measurement")
    p.add_argument("--batch-size", type=int, default=8,
                   help="batch size of the cost measurement")
    p.set_defaults(func=run)


# -- images ---------------------------------------------------------------


def _resize_crop(img, size=240):
    from keras import ops

    img = np.asarray(img, dtype="float32")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3]
    if img.max() > 1.5:
        img = img / 255.0
    h, w = img.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = ops.image.resize(img[None], (nh, nw), interpolation="bilinear",
                           antialias=True)
    out = np.asarray(out)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.clip(out[top:top + size, left:left + size], 0, 1)


def load_images(folder=None):
    """Real photos as float32 (240, 240, 3) arrays in [0, 1], with names."""
    if folder is None:
        try:
            from skimage import data
        except ImportError:
            raise ValueError(
                "The demo's default photos come from scikit-image: "
                "`pip install \"keras-cmod[demo]\"`, or pass --images DIR."
            ) from None
        images, names = [], []
        for name in DEFAULT_SAMPLES:
            img = (data.stereo_motorcycle()[0] if name == "motorcycle"
                   else getattr(data, name)())
            images.append(_resize_crop(img))
            names.append(name)
        return images, names
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"--images must be a folder of photos. Received: {folder!r}"
        )
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ValueError(
            f"No images in {folder!r} (expected files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)})."
        )
    import keras

    images = []
    for f in files:
        path = os.path.join(folder, f)
        try:
            img = keras.utils.img_to_array(keras.utils.load_img(path))
        except Exception as exc:  # PIL raises several types
            raise ValueError(f"Cannot read image {path!r}: {exc}") from None
        if min(img.shape[:2]) < 64:
            raise ValueError(
                f"Image {path!r} is {img.shape[1]}x{img.shape[0]} px; the "
                "demo needs at least 64 px on the shorter side (it is then "
                "resized to 240 px)."
            )
        images.append(_resize_crop(img))
    return images, files


# -- layers ---------------------------------------------------------------


def single_packet_mixing(stem):
    """Sets the Gabor mixing so that each channel is one DT-CWPT packet."""
    sel = stem.gabor.packet_selection
    for w, k, l_out, g in zip(stem.gabor.mixing, sel.split_in,
                              sel.split_out, sel.groups):
        kg, lg = k // g, l_out // g
        values = np.zeros((kg, l_out), "float32")
        for col in range(l_out):
            values[(col % lg) % kg, col] = 1.0
        w.assign(values)


def build_stems(family, size):
    """Standard, twin (RMax) and CMod first-layer blocks of one family."""
    import keras

    from keras_cmod.layers import TwinStem
    from keras_cmod.models import apply_stem

    inp = keras.Input((size, size, 3))
    standard = keras.Model(inp, apply_stem(inp, family, "standard"),
                           name=f"{family}_standard_stem")
    stems = {"standard": standard}
    twins = {}
    for mode in ("rmax", "cmod"):
        stem = TwinStem(family, mode, name="stem")
        inp = keras.Input((size, size, 3))
        stems[mode] = keras.Model(inp, stem(inp), name=f"{family}_{mode}")
        twins[mode] = stem
    single_packet_mixing(twins["cmod"])
    for a, b in zip(twins["cmod"].gabor.weights, twins["rmax"].gabor.weights):
        b.assign(a)
    return stems, twins


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer1_macs(stems):
    """MACs per example of each first-layer block, on the training path
    (what `keras_cmod.evaluation.model_macs` counts)."""
    from keras_cmod.evaluation import model_macs

    return {k: int(model_macs(m)["total"]) for k, m in stems.items()}


def gabor_macs(gabor, input_shape, training):
    """MACs per example of a `DTCWPTConv2D` on the path that runs.

    A training call transforms the three colour planes (the backward pass
    then never runs through the transform); an inference call mixes the
    colours into one luminance image (3 MACs a pixel) and transforms it
    alone, a third of the transform and of the 1x1 products.
    """
    import inspect

    if "training" in inspect.signature(gabor.macs).parameters:
        return int(gabor.macs(input_shape, training=training))
    if training:
        return int(gabor.macs(input_shape))
    plan = gabor._lum_parts[0]  # the luminance plan of this build
    h = input_shape[1] + sum(gabor.padding[0])
    w = input_shape[2] + sum(gabor.padding[1])
    oh, ow, cols = gabor.compute_output_shape(input_shape)[1:]
    return int(plan.macs_per_pixel() * h * w + 3 * h * w
               + oh * ow * plan.n_maps * cols)


def layer1_inference_macs(stems, twins, size):
    """`layer1_macs` on the inference path: the twins' Gabor channels
    transform the luminance image only (the standard layer is the same)."""
    train = layer1_macs(stems)
    out = {"standard": train["standard"]}
    for mode, stem in twins.items():
        pad = stem.gabor_padding
        shape = (1, size + 2 * pad, size + 2 * pad, 3)
        out[mode] = (train[mode] - gabor_macs(stem.gabor, shape, True)
                     + gabor_macs(stem.gabor, shape, False))
    return out


# -- the run --------------------------------------------------------------


def analyse_family(family, images, batch_size, repeats, log):
    from keras_cmod import evaluation, zoo

    model_name, size, stride = FAMILIES[family]
    t0 = time.perf_counter()
    stems, twins = build_stems(family, size)
    rmax_fn = lambda x: np.asarray(twins["rmax"].gabor_response(x))  # noqa
    cmod_fn = lambda x: np.asarray(twins["cmod"].gabor_response(x))  # noqa
    stability = evaluation.first_layer_stability(
        rmax_fn, cmod_fn, images, shifts=tuple(range(1, 9)),
        direction="diagonal", stride=stride, crop_size=size, batch_size=9,
        margin=MARGIN[family],
    )
    crops = np.stack([im[:size, :size] for im in images])
    similarity = evaluation.compare_feature_maps(rmax_fn, cmod_fn, crops,
                                                 batch_size=len(crops))
    params_layer1 = {k: _trainable(m) for k, m in stems.items()}
    params_model = {}
    for suffix, key in (("", "standard"), ("_twin", "rmax"),
                        ("_cmod", "cmod")):
        m = zoo.create_model(model_name + suffix, input_shape=(64, 64, 3))
        params_model[key] = _trainable(m)
    macs = layer1_macs(stems)
    macs_inference = layer1_inference_macs(stems, twins, size)
    timing = {}
    for key, m in stems.items():
        t = evaluation.time_model(m, batch_size=batch_size, repeats=repeats,
                                  warmup=1, backward=True)
        timing[key] = float(t["median_s"])
    table = evaluation.table_iii()
    log(f"  {family}: analysed in {time.perf_counter() - t0:.1f} s")
    return {
        "family": family,
        "model": model_name,
        "image_size": size,
        "total_stride": stride,
        "gabor_channels": int(twins["cmod"].gabor_filters),
        "stability": {k: stability[k] for k in ("shifts", "direction",
                                                 "stride", "rmax", "cmod")},
        "rmax_cmod_cosine": float(similarity["cosine_mean"]),
        "params_layer1": params_layer1,
        "params_model": params_model,
        "macs_layer1": macs,
        "macs_layer1_inference": macs_inference,
        "time_fwd_bwd_s": timing,
        "timing_batch_size": batch_size,
        "analytic_table_iii": {
            "cost": table["cost"][family],
            "memory": table["memory"][family],
        },
    }


def format_table(results):
    lines = []
    head = (f"{'first layer':<22}{'params L1':>11}{'params model':>14}"
            f"{'MMACs train':>13}{'MMACs infer':>13}{'fwd+bwd ms':>12}"
            f"{'shift 1-8 px':>14}")
    for r in results:
        lines.append(f"{r['model']} (Gabor channels: {r['gabor_channels']}, "
                     f"total stride {r['total_stride']})")
        lines.append(head)
        st = r["stability"]
        for key, label in (("standard", "standard conv+maxpool"),
                           ("rmax", "twin RMax"), ("cmod", "twin CMod")):
            stab = (f"{np.mean(st[key]):>14.3f}" if key in st
                    else f"{'-':>14}")
            lines.append(
                f"{label:<22}{r['params_layer1'][key]:>11,}"
                f"{r['params_model'][key]:>14,}"
                f"{r['macs_layer1'][key] / 1e6:>13.1f}"
                f"{r['macs_layer1_inference'][key] / 1e6:>13.1f}"
                f"{1e3 * r['time_fwd_bwd_s'][key]:>12.1f}{stab}"
            )
        lines.append(_macs_line(r))
        lines.append(
            f"RMax-CMod cosine similarity (Gabor channels): "
            f"{r['rmax_cmod_cosine']:.3f}"
        )
        per_shift = ", ".join(
            f"{s}px {a:.2f}/{b:.2f}" for s, a, b in
            zip(st["shifts"], st["rmax"], st["cmod"])
        )
        lines.append(f"relative change RMax/CMod by shift: {per_shift}")
        t = r["analytic_table_iii"]
        lines.append(
            "paper's analytic cost per Gabor channel (Table III): CMod "
            f"{t['cost']['cmod']:.2f}x compute, {t['memory']['cmod']:.2f}x "
            f"memory; BlurPool {t['cost']['blurpool']:.2f}x / "
            f"{t['memory']['blurpool']:.2f}x"
        )
        lines.append("")
    return "\n".join(lines)


def _macs_line(r):
    """CMod's MACs against the standard layer it replaces, both paths."""
    def ratio(which):
        return r[which]["cmod"] / r[which]["standard"]

    parts = []
    for which, label in (("macs_layer1", "training"),
                         ("macs_layer1_inference", "inference")):
        x = ratio(which)
        word = "more" if x > 1 else "less"
        parts.append(f"{label} {x:.2f}x ({word})")
    return ("MACs of twin CMod / standard conv+maxpool: "
            + ", ".join(parts))


def write_pictures(results, twins_by_family, images, out_dir):
    from keras_cmod import evaluation, wavelets

    paths = []
    for r in results:
        paths.append(evaluation.plot_first_layer_stability(
            r["stability"],
            os.path.join(out_dir, f"stability_{r['family']}.png"),
            title=f"{r['model']}: Gabor channels, diagonal shifts",
        ))
    sel = wavelets.RESNET_PACKETS
    kernels = wavelets.dtcwpt_kernels(sel.depth)[list(sel.packets)]
    paths.append(evaluation.plot_kernel_grid(
        kernels, os.path.join(out_dir, "kernels_resnet.png"),
        title="ResNet twin: the 16 DT-CWPT packets of the Gabor channels",
    ))
    paths.append(_plot_maps(twins_by_family["alexnet"], images[0],
                            os.path.join(out_dir, "rmax_vs_cmod.png")))
    return paths


def _plot_maps(twins, image, path, shift=1, channels=(2, 10, 26)):
    """AlexNet twin, one photo: RMax and CMod maps and their change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 224
    crops = np.stack([image[:size, :size],
                      image[shift:size + shift, shift:size + shift]])
    fig, axes = plt.subplots(len(channels), 4, figsize=(10, 7.8))
    for col, mode in enumerate(("rmax", "cmod")):
        maps = np.asarray(twins[mode].gabor_response(crops))
        label = "RMax" if mode == "rmax" else "CMod"
        for row, ch in enumerate(channels):
            a, b = maps[0, :, :, ch], maps[1, :, :, ch]
            change = np.linalg.norm(a - b) / np.linalg.norm(a)
            for j, (img, title) in enumerate((
                (a, f"{label} output"),
                (np.abs(a - b), f"|change|, {shift} px shift: "
                                f"{100 * change:.0f}%"),
            )):
                ax = axes[row, 2 * col + j]
                ax.imshow(img, cmap="magma", vmin=0, vmax=np.abs(a).max())
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(title, fontsize=9)
            axes[row, 0].set_ylabel(f"Gabor channel {ch}")
    fig.suptitle(f"AlexNet twin, same DT-CWPT kernels: output change under "
                 f"a {shift} px diagonal shift (relative L2)")
    fig.tight_layout()
    try:
        with _atomic.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)
    return path


def run(args):
    from keras_cmod.evaluation import write_results

    if args.repeats < 1 or args.batch_size < 1:
        raise ValueError(
            "--repeats and --batch-size must be >= 1. Received: "
            f"{args.repeats}, {args.batch_size}"
        )
    from keras_cmod._atomic import check_writable_path

    check_writable_path(args.output, "--output", folder=True)
    t0 = time.perf_counter()
    images, names = load_images(args.images)
    print(f"keras-cmod demo: {len(images)} photos ({', '.join(names)}), "
          "untrained first layers (see notes below)")
    results, twins_by_family = [], {}
    for family in ("resnet", "alexnet"):
        res = analyse_family(family, images, args.batch_size, args.repeats,
                             print)
        results.append(res)
        _, twins = build_stems(family, FAMILIES[family][1])
        twins_by_family[family] = twins
    table = format_table(results)
    print()
    print(table)
    print(NOTES)
    pictures = write_pictures(results, twins_by_family, images, args.output)
    write_results({"demo": results, "images": names, "notes": NOTES},
                  os.path.join(args.output, "demo_results.json"))
    _atomic.write_text(os.path.join(args.output, "demo_table.txt"),
                       table + "\n" + NOTES + "\n")
    print(f"wrote {len(pictures)} pictures, demo_results.json and "
          f"demo_table.txt to {args.output}/ in "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


NOTES = """Notes: shift stability = relative L2 change of the Gabor channels'
output under 1..8 px diagonal shifts (mean over shifts; lower is more
stable), nearest whole output shift compensated, borders reached by the
zero padding left out. Gabor channels = single
DT-CWPT packets (fixed; no training involved). Free channels and the
standard layer are random (untrained): only their parameters and cost are
reported. MMACs train / infer: multiply-accumulates of a training call
(the twins' DT-CWPT transforms the three colour planes) and of an
inference call (the luminance image alone). Times are measured on this
machine (noisy; compare within the run); the analytic ratios are the
paper's model (Table III)."""

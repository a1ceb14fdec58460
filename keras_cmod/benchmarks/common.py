"""Statistics, machine description and JSON output of the benchmarks."""

import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np


def machine_description():
    """CPU, cores, load and versions (no backend import: the suite's parent
    process stays light; each worker reports its backend's versions)."""
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def backend_versions():
    """The running backend, its version and devices."""
    import keras

    backend = keras.backend.backend()
    info = {"backend": backend, "keras": keras.__version__}
    if backend == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["devices"] = [d.name for d in tf.config.list_logical_devices()]
        info["onednn"] = tensorflow_onednn()
    elif backend == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    info["mode"] = mode_name(backend, info.get("onednn"))
    return info


#: Machine modes: the backend, and for TensorFlow which kernel library runs
#: (fixed when TensorFlow loads, by `TF_ENABLE_ONEDNN_OPTS` or, unset, by
#: the CPU: oneDNN on x86 CPUs with AVX-512 VNNI / BF16 / AMX, TensorFlow's
#: own kernels elsewhere). `tensorflow` alone is whatever the machine runs.
MODES = ("tensorflow", "tensorflow-own", "tensorflow-onednn", "jax")
MODE_ENV = {"tensorflow-own": {"KERAS_BACKEND": "tensorflow",
                               "TF_ENABLE_ONEDNN_OPTS": "0"},
            "tensorflow-onednn": {"KERAS_BACKEND": "tensorflow",
                                  "TF_ENABLE_ONEDNN_OPTS": "1"},
            "tensorflow": {"KERAS_BACKEND": "tensorflow"},
            "jax": {"KERAS_BACKEND": "jax"}}
MODE_TITLES = {"tensorflow-own": "TensorFlow, own kernels",
               "tensorflow-onednn": "TensorFlow + oneDNN",
               "tensorflow": "TensorFlow", "jax": "JAX"}


def tensorflow_onednn():
    """Whether the loaded TensorFlow runs oneDNN's CPU kernels (asked of
    TensorFlow itself, never guessed from the environment)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def mode_name(backend, onednn=None):
    if backend == "tensorflow" and onednn is not None:
        return "tensorflow-onednn" if onednn else "tensorflow-own"
    return backend


def cpu_flags():
    """The CPU features that decide TensorFlow's kernels (x86 Linux)."""
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
              "amx_tile", "amx_bf16")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def summarize(times):
    """Median, interquartile range, min and max of a list of seconds."""
    times = sorted(float(t) for t in times)
    if not times:
        raise ValueError("summarize needs at least one time")
    q = np.percentile(times, [25, 75])
    return {
        "median_s": statistics.median(times),
        "iqr_s": float(q[1] - q[0]),
        "min_s": times[0],
        "max_s": times[-1],
        "repeats": len(times),
    }


def ratio_stats(num, den):
    """Per-round ratios `num[i] / den[i]` of two interleaved series."""
    if len(num) != len(den) or not num:
        raise ValueError(
            f"ratio_stats needs two series of the same non-zero length; "
            f"got {len(num)} and {len(den)}")
    r = sorted(a / b for a, b in zip(num, den))
    q = np.percentile(r, [25, 75])
    return {"median": statistics.median(r), "min": r[0], "max": r[-1],
            "q1": float(q[0]), "q3": float(q[1]), "rounds": len(r)}


def write_text_atomic(path, text):
    """Writes `text` through a temporary file and `os.replace`, with the
    umask's permissions; the temporary file is removed on failure."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(result, path):
    text = json.dumps(result, indent=2, allow_nan=False, default=float)
    return write_text_atomic(path, text + "\n")


def format_rows(rows, columns):
    """A plain-text table from a list of dicts."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows))
              for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(w)
                               for c, w in zip(columns, widths)))
    return "\n".join(lines)

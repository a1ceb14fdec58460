"""PNG figures (keras_cmod.evaluation.plots)."""

import numpy as np
import pytest

from keras_cmod import evaluation as ev

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000


def test_plot_kl_curves(tmp_path):
    # Mean KL curves of the paper's Fig. 2 at 0.5, 1, 2, 3, 4, 6, 8 px.
    shifts = [0, 0.5, 1, 2, 3, 4, 6, 8]
    curves = {
        "AlexNet CNN": [0, .0145, .0303, .0505, .0639, .0668, .0882, .0736],
        "AlexNet CWCNN": [0, .0053, .0138, .0349, .0519, .0631, .0746,
                          .0726],
    }
    path = ev.plots.plot_kl_curves(curves, tmp_path / "kl.png",
                                   shifts=shifts, title="Fig. 2")
    _check_png(path)
    # Default x axis: half-pixel steps.
    _check_png(ev.plots.plot_kl_curves({"a": np.zeros(17)},
                                       tmp_path / "kl17.png"))


def test_plot_flip_rates(tmp_path):
    rates = {k: ev.PAPER_RAW_MFR[k] for k in ("AI", "AwyI", "AwyI_mod")}
    _check_png(ev.plots.plot_flip_rates(rates, tmp_path / "mfr.png"))


def test_plot_first_layer_stability(tmp_path):
    stability = {"shifts": list(range(1, 9)), "rmax": np.linspace(.3, .1, 8),
                 "cmod": [0.05] * 7 + [None]}
    _check_png(ev.plots.plot_first_layer_stability(
        stability, tmp_path / "stab.png"
    ))


def test_plot_kernel_grid(tmp_path):
    r = np.arange(9) - 4
    y, x = np.meshgrid(r, r, indexing="ij")
    kernels = np.stack([
        np.exp(-(x**2 + y**2) / 8) * np.exp(1j * w * (x + y))
        for w in np.linspace(0.3, 2.5, 10)
    ])
    path = ev.plots.plot_kernel_grid(kernels, tmp_path / "k.png", ncols=4,
                                     title="Gabor")
    _check_png(path)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: ev.plots.plot_kl_curves({}, p), "non-empty"),
        (lambda p: ev.plots.plot_kl_curves({"a": [1, 2], "b": [1]}, p),
         "one length"),
        (lambda p: ev.plots.plot_kl_curves({"a": [1, 2]}, p, shifts=[0]),
         "2 values"),
        (lambda p: ev.plots.plot_flip_rates({"a": {"vertical": 1}}, p),
         "each of"),
        (lambda p: ev.plots.plot_first_layer_stability({"shifts": [1]}, p),
         "'rmax'"),
        (lambda p: ev.plots.plot_kernel_grid(np.zeros((4, 4)), p),
         r"\(n, S, S\)"),
        (lambda p: ev.plots.plot_kernel_grid(np.zeros((1, 4, 4)), p,
                                             ncols=0), "ncols"),
    ],
)
def test_plot_bad_input(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "x.png")

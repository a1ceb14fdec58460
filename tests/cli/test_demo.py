import json

import numpy as np
import pytest

from keras_cmod import cli, demo


# The README's first run end to end (full-size models): slow tier.
@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    pytest.importorskip("skimage")
    out = tmp_path / "demo"
    assert cli.main(["demo", "--output", str(out), "--repeats", "1",
                     "--batch-size", "2"]) == 0
    text = capsys.readouterr().out
    assert "twin CMod" in text and "untrained" in text
    results = json.loads((out / "demo_results.json").read_text())
    by_family = {r["family"]: r for r in results["demo"]}
    for family, r in by_family.items():
        st = r["stability"]
        # CMod is the more stable operator on average over 1..8 px shifts.
        assert np.mean(st["cmod"]) < np.mean(st["rmax"]), family
        # Shifts that are multiples of the total stride are compensated
        # exactly (apart from round-off): near-zero change.
        k = r["total_stride"]
        assert st["rmax"][k - 1] < 0.02 and st["cmod"][k - 1] < 0.02
        assert r["params_layer1"]["rmax"] == r["params_layer1"]["cmod"]
    assert by_family["alexnet"]["params_model"] == {
        "standard": 61_100_840, "rmax": 61_089_433, "cmod": 61_089_433}
    assert by_family["resnet"]["params_model"]["cmod"] == 21_794_171
    for name in ("stability_resnet.png", "stability_alexnet.png",
                 "kernels_resnet.png", "rmax_vs_cmod.png"):
        assert (out / name).stat().st_size > 1000


def test_demo_empty_image_folder(tmp_path, capsys):
    assert cli.main(["demo", "--images", str(tmp_path), "--output",
                     str(tmp_path / "o")]) == 2
    assert "No images" in capsys.readouterr().err


def test_demo_missing_folder(tmp_path, capsys):
    assert cli.main(["demo", "--images", str(tmp_path / "nope")]) == 2
    assert "folder of photos" in capsys.readouterr().err


def test_demo_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="Cannot read image"):
        demo.load_images(str(tmp_path))


def test_demo_image_too_small(tmp_path):
    import keras

    keras.utils.save_img(str(tmp_path / "tiny.png"),
                         np.zeros((20, 30, 3), "uint8"))
    with pytest.raises(ValueError, match="at least 64 px"):
        demo.load_images(str(tmp_path))


def test_demo_images_from_a_folder(tmp_path):
    import keras

    rng = np.random.default_rng(0)
    keras.utils.save_img(str(tmp_path / "a.png"),
                         rng.integers(0, 255, (100, 130, 3), dtype="uint8"))
    images, names = demo.load_images(str(tmp_path))
    assert names == ["a.png"] and images[0].shape == (240, 240, 3)
    assert 0 <= images[0].min() and images[0].max() <= 1

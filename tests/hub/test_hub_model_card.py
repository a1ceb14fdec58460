"""Generated model cards: the YAML must parse and carry the metrics."""

import huggingface_hub
import pytest
from hub_test_models import TOKEN, tiny_model
from huggingface_hub.repocard import metadata_load

import keras_cmod.hub as kh
from keras_cmod.hub.model_card import CITATION_BIBTEX, normalize_metrics

CFG = {
    "architecture": "resnet34_cmod",
    "tag": "imagenet",
    "input_size": [224, 224, 3],
    "num_classes": 1000,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    "license": "apache-2.0",
}
METRICS = {
    "dataset": {"id": "imagenet", "split": "validation"},
    "top1": 73.1,
    "top5": 91.2,
    "consistency": 88.0,
    "mfr": 17.8,
    "kl": 0.0123,
    "protocol": {"consistency": "wcnn-mfr-8px", "kl": "wcnn-kl-0.5px"},
}
SHA = "0123456789abcdef0123456789abcdef01234567"


def _values(card):
    return {r.metric_type: r for r in card.data.eval_results}


def test_card_parses_and_contains_metadata_and_metrics(tmp_path):
    text = kh.generate_model_card(CFG, METRICS, repo_id="org/repo",
                                  revision=SHA)
    card = huggingface_hub.ModelCard(text)
    data = card.data
    assert data.library_name == "keras"
    assert data.pipeline_tag == "image-classification"
    assert {"keras-cmod", "shift-invariance"} <= set(data.tags)
    assert data.license == "apache-2.0"
    assert data.datasets == ["ILSVRC/imagenet-1k"]
    results = _values(card)
    assert results["accuracy"].metric_value == 73.1
    assert results["top_5_accuracy"].metric_value == 91.2
    assert results["consistency"].metric_value == 88.0
    assert results["consistency"].metric_config == "wcnn-mfr-8px"
    assert results["mean_flip_rate"].metric_value == 17.8
    assert results["kl_divergence"].metric_value == 0.0123
    assert results["accuracy"].dataset_split == "validation"
    assert results["accuracy"].dataset_name == "ImageNet-1k"

    path = tmp_path / "README.md"
    path.write_text(text)
    meta = metadata_load(path)
    assert meta["library_name"] == "keras" and "model-index" in meta
    assert kh.read_model_card_metadata(path)["pipeline_tag"] == (
        "image-classification"
    )

    body = card.text
    assert f'keras_cmod.zoo.load("hf-hub:org/repo@{SHA}")' in body
    for section in ("## Results", "## Shift protocol", "## How to load",
                    "## Fine-tuning", "## Filter provenance", "## Citation"):
        assert section in body
    assert CITATION_BIBTEX in body and "2212.00394" in body
    assert "EUSIPCO" in body and "Kingsbury" in body and "qshift_a" in body
    assert "| 73.10 |" in body and "wcnn-mfr-8px" in body


def test_minimal_card_is_valid_without_config_or_metrics():
    card = huggingface_hub.ModelCard(kh.generate_model_card())
    assert card.data.library_name == "keras"
    assert card.data.eval_results is None
    assert "No evaluation results" in card.text


def test_metric_keys_are_matched_loosely_and_lists_allowed():
    rows = normalize_metrics(
        [
            {"dataset": "cifar10", "Top-1": 90,
             "mFR": {"value": 12.0, "protocol": "mfr 1-4 px"}},
            {"dataset": {"id": "ILSVRC/imagenet-1k", "split": "val"},
             "kl_div": 0.1, "params_m": 21.8, "note": "text is skipped",
             "flag": True},
        ]
    )
    by_key = {r["key"]: r for r in rows}
    assert set(by_key) == {"top1", "mfr", "kl", "params_m"}
    assert by_key["top1"]["dataset_id"] == "uoft-cs/cifar10"
    assert by_key["mfr"]["protocol"] == "mfr 1-4 px"
    assert by_key["kl"]["split"] == "val"
    assert by_key["params_m"]["type"] == "params_m"
    with pytest.raises(TypeError):
        normalize_metrics(["top1"])


def test_pushed_card_is_accepted_by_the_hub_and_reads_back(
    fake_hub, hub_kw, tmp_path
):
    commit = kh.push_to_hub(
        tiny_model(0), "org/carded", endpoint=fake_hub.endpoint, token=TOKEN,
        pretrained_cfg={"architecture": "tiny", "tag": "cifar10"},
        metrics={"top1": 55.5, "consistency": 70.0},
    )
    # The client sent the README through the Hub's YAML validation.
    assert fake_hub.count("POST", "/api/validate-yaml") == 1
    readme = tmp_path / "README.md"
    readme.write_bytes(fake_hub.files("org/carded", commit)["README.md"])
    meta = kh.read_model_card_metadata(readme)
    (result,) = meta["model-index"][0]["results"]
    values = {m["type"]: m["value"] for m in result["metrics"]}
    assert values == {"accuracy": 55.5, "consistency": 70.0}
    assert meta["datasets"] == ["uoft-cs/cifar10"]

    # A card whose YAML is broken is refused by the (fake) Hub.
    with pytest.raises(ValueError):
        kh.push_to_hub(tiny_model(0), "org/badcard",
                       endpoint=fake_hub.endpoint, token=TOKEN,
                       model_card="---\nlicense: [mit\n---\n# oops\n")


def test_read_model_card_metadata_rejects_broken_yaml(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("---\nlicense: [mit\n---\n# oops\n")
    with pytest.raises(ValueError, match="Cannot parse the model card"):
        kh.read_model_card_metadata(path)

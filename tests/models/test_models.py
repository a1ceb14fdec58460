import numpy as np
import pytest
from testing import run_model_saving_test

from keras_cmod import models, zoo


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# The paper's parameter counts: (registry name, tag, trainable count).
# Counts do not depend on the input size, so small inputs keep this fast;
# building the full-size families still takes seconds each: the default
# tier counts the CIFAR ResNet-18 with and without the twin stem (the
# stems' own counts are tested per layer), the slow tier all of them.
FAST_PARAMS = [
    ("resnet18", "cifar10", 11_181_642),
    ("resnet18_cmod", "cifar10", 11_178_141),
]
SLOW_PARAMS = [
    ("alexnet", "in1k", 61_100_840),
    ("alexnet_twin", "in1k", 61_089_433),
    ("alexnet_cmod", "in1k", 61_089_433),
    ("alexnet_blurpool", "in1k", 61_100_840),
    ("alexnet_blurpool_twin", "in1k", 61_089_433),
    ("alexnet_blurpool_cmod", "in1k", 61_089_433),
    ("resnet34", "in1k", 21_797_672),
    ("resnet34_twin", "in1k", 21_794_171),
    ("resnet34_cmod", "in1k", 21_794_171),
    ("resnet34_ablurpool", "in1k", 22_711_064),
    ("resnet34_ablurpool_twin", "in1k", 22_707_563),
    ("resnet34_ablurpool_cmod", "in1k", 22_682_237),
    ("resnet18_twin", "cifar10", 11_178_141),
    ("resnet34", "cifar10", 21_289_802),
    ("resnet34_twin", "cifar10", 21_286_301),
    ("resnet18_ablurpool", "cifar10", 12_095_034),
    ("resnet18_ablurpool_twin", "cifar10", 12_091_533),
    ("resnet18_ablurpool_cmod", "cifar10", 12_066_207),
    ("resnet50", "in1k", 25_557_032),
    ("resnet50_twin", "in1k", 25_553_531),
    ("resnet101", "in1k", 44_549_160),
]
PARAMS = FAST_PARAMS + [pytest.param(*p, marks=pytest.mark.slow)
                        for p in SLOW_PARAMS]


@pytest.mark.parametrize("name,tag,count", PARAMS)
def test_trainable_parameter_counts(name, tag, count):
    model = zoo.create_model(f"{name}.{tag}", input_shape=(64, 64, 3))
    assert trainable(model) == count


# At 224 px (AlexNet's 61M weights, ResNets' large maps): slow tier.
@pytest.mark.parametrize("name,size,stem_shape", [
    pytest.param("alexnet", 224, (27, 27, 64), marks=pytest.mark.slow),
    pytest.param("alexnet_cmod", 224, (27, 27, 64), marks=pytest.mark.slow),
    pytest.param("alexnet_blurpool_cmod", 224, (27, 27, 64),
                 marks=pytest.mark.slow),
    pytest.param("resnet18_twin", 224, (56, 56, 64), marks=pytest.mark.slow),
    pytest.param("resnet18_ablurpool_cmod", 224, (56, 56, 64),
                 marks=pytest.mark.slow),
    ("resnet18_cmod", 32, (8, 8, 64)),
    ("alexnet_blurpool_cmod", 64, (7, 7, 64)),
])
def test_stem_layer_shapes(name, size, stem_shape):
    model = zoo.create_model(name, input_shape=(size, size, 3),
                             num_classes=10)
    assert tuple(model.get_layer("stem").output.shape[1:]) == stem_shape
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("name", [
    "resnet18_ablurpool_twin",
    pytest.param("resnet18_cmod", marks=pytest.mark.slow),
    pytest.param("alexnet_blurpool_cmod", marks=pytest.mark.slow),
])
def test_save_and_reload_identical_outputs(name):
    model = zoo.create_model(name, num_classes=5, input_shape=(64, 64, 3))
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("f4")
    revived = run_model_saving_test(model, x)
    assert revived.get_config() == model.get_config()


def test_headless_and_pooling():
    a = models.ResNet(18, stem="cmod", include_top=False,
                      input_shape=(64, 64, 3))
    assert a.output_shape == (None, 2, 2, 512)
    b = models.ResNet(18, include_top=False, pooling="max",
                      input_shape=(64, 64, 3))
    assert b.output_shape == (None, 512)
    c = models.AlexNet(stem="twin", include_top=False, pooling="avg",
                       input_shape=(96, 96, 3))
    assert c.output_shape == (None, 256)


def test_any_input_size():
    model = models.ResNet(18, stem="cmod", num_classes=3,
                          input_shape=(None, None, 3))
    for size in ((64, 64), (72, 96)):
        y = model(np.zeros((1, *size, 3), "float32"))
        assert y.shape == (1, 3)


def test_classifier_activation_softmax():
    model = models.ResNet(18, num_classes=4, input_shape=(32, 32, 3),
                          classifier_activation="softmax")
    y = np.asarray(model(np.random.rand(2, 32, 32, 3).astype("f4")))
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    ({"depth": 20}, "depth"),
    ({"stem": "gabor"}, "stem"),
    ({"antialias": "blur"}, "antialias"),
    ({"pooling": "foo", "include_top": False}, "pooling"),
    ({"num_classes": -3}, "num_classes"),
    ({"input_shape": (16, 16, 3)}, "at least"),
    ({"input_shape": (64, 64, 1)}, "channels-last"),
])
def test_resnet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.ResNet(**kwargs)


@pytest.mark.parametrize("kwargs,match", [
    ({"antialias": "adaptive_blurpool"}, "antialias"),
    ({"input_shape": (32, 32, 3)}, "at least"),
])
def test_alexnet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.AlexNet(**kwargs)


def test_alexnet_twin_has_the_packet_penalty_loss():
    # Headless: the penalty is the stem's; the classifier adds 58M weights.
    model = models.AlexNet(stem="cmod", include_top=False,
                           input_shape=(64, 64, 3))
    assert len(model.losses) == 2
    assert float(sum(model.losses)) > 0
    none = models.AlexNet(stem="cmod", include_top=False,
                          input_shape=(64, 64, 3),
                          packet_penalty=[0.0, 0.0, 0.0])
    assert not none.losses


# The training tests fit a zoo model in the default tier.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18_cmod", "alexnet_twin"])
def test_one_step_fit(name):
    model = zoo.create_model(name, num_classes=4, input_shape=(64, 64, 3))
    model.compile(optimizer="sgd",
                  loss=__import__("keras").losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    x = np.random.rand(4, 64, 64, 3).astype("float32")
    y = np.array([0, 1, 2, 3])
    hist = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"][0])

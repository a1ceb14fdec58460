"""TorchSGD (torch.optim.SGD semantics, coupled L2) and StepLR."""

import json

import keras
import numpy as np
import pytest

from keras_cmod.training.optimizers import StepLR, TorchSGD


def torch_sgd_reference(w, grads, lrs, momentum, weight_decay, nesterov):
    """torch.optim.SGD's update (dampening 0), written out in numpy."""
    w = np.array(w, np.float64)
    buf = None
    for g, lr in zip(grads, lrs):
        d = g + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
    return w


@pytest.mark.parametrize("momentum, nesterov, wd", [
    (0.9, False, 1e-2), (0.9, True, 1e-2), (0.0, False, 5e-2),
    (0.5, False, 0.0),
])
def test_matches_torch_sgd_across_a_learning_rate_step(momentum, nesterov,
                                                       wd):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2)).astype("float32")
    grads = [rng.normal(size=(3, 2)).astype("float32") for _ in range(6)]
    # Two steps per "epoch", decay every epoch: the lr changes twice.
    schedule = StepLR(0.1, steps_per_epoch=2, step_size=1, gamma=0.5)
    lrs = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    var = keras.Variable(w0)
    opt = TorchSGD(schedule, momentum=momentum, nesterov=nesterov,
                   weight_decay=wd)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
    expected = torch_sgd_reference(w0, grads, lrs, momentum, wd, nesterov)
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert int(opt.iterations.numpy()) == 6


def test_weight_decay_is_coupled_unlike_keras_sgd():
    # Zero gradient: torch's coupled L2 + momentum accelerates the decay;
    # Keras' decoupled decay shrinks w by lr*wd*w per step.
    w0 = np.ones((2,), "float32")
    ours, theirs = keras.Variable(w0), keras.Variable(w0)
    opt = TorchSGD(0.1, momentum=0.9, weight_decay=0.1)
    keras_opt = keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1)
    zero = keras.ops.zeros((2,))
    for _ in range(3):
        opt.apply_gradients([(zero, ours)])
        keras_opt.apply_gradients([(zero, theirs)])
    expected = torch_sgd_reference(w0, [np.zeros(2)] * 3, [0.1] * 3, 0.9,
                                   0.1, False)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)
    assert not np.allclose(theirs.numpy(), expected, rtol=1e-4)


def test_step_lr_values_and_serialization():
    sched = StepLR(0.1, steps_per_epoch=10, step_size=30)
    for step, lr in [(0, 0.1), (299, 0.1), (300, 0.01), (599, 0.01),
                     (600, 0.001), (900, 1e-4)]:
        assert float(sched(step)) == pytest.approx(lr, rel=1e-6)
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(
        keras.saving.serialize_keras_object(sched))))
    assert isinstance(again, StepLR)
    assert again.get_config() == sched.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        StepLR(0.1, steps_per_epoch=0, step_size=30)


def test_torch_sgd_serialization_and_arguments():
    opt = TorchSGD(StepLR(0.1, 5, 30), momentum=0.9, nesterov=True,
                   weight_decay=1e-4)
    config = opt.get_config()
    assert config["weight_decay"] == 1e-4 and config["nesterov"] is True
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(
        keras.saving.serialize_keras_object(opt))))
    assert isinstance(again, TorchSGD)
    assert (again.l2, again.momentum, again.nesterov) == (1e-4, 0.9, True)
    with pytest.raises(ValueError, match="momentum"):
        TorchSGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        TorchSGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="weight_decay"):
        TorchSGD(0.1, weight_decay=-1.0)

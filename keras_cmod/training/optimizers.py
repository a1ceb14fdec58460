"""PyTorch-semantics SGD (coupled L2) and the StepLR schedule, for Keras 3.

The paper trains with `torch.optim.SGD(lr, momentum=0.9,
weight_decay=1e-4)` and `StepLR(step_size, gamma=0.1)` stepped once per
epoch (the reference code's recipe). Two details make Keras' own
`SGD(weight_decay=...)` a different optimizer:

1. PyTorch's `weight_decay` is a *coupled* L2 penalty: `g += wd * w`
   before momentum, on every parameter given to the optimizer. Keras'
   `weight_decay` is decoupled (AdamW-style: `w -= lr * wd * w` beside the
   update).
2. PyTorch's momentum buffer holds gradients (`buf = mu * buf + g;
   w -= lr * buf`), Keras' holds steps (`v = mu * v - lr * g; w += v`).
   They agree while the learning rate is constant and differ for the few
   steps after each StepLR decay.

`TorchSGD` implements PyTorch's update exactly, inside the optimizer step.
In a distributed run the step sees the gradients after the cross-replica
all-reduce (and after loss-scale unscaling), so the L2 term is added once,
unscaled, and needs no division by the number of replicas. It is a normal
Keras optimizer: usable with `model.fit` and `LossScaleOptimizer`.
"""

import keras
from keras import ops

__all__ = ["StepLR", "TorchSGD"]


@keras.saving.register_keras_serializable(package="keras_cmod")
class TorchSGD(keras.optimizers.Optimizer):
    """SGD with momentum and coupled L2 weight decay, as `torch.optim.SGD`.

    Update of each trainable variable `w` with gradient `g` (dampening 0):

    ```python
    d = g + weight_decay * w
    buf = momentum * buf + d      # buf starts at 0 (i.e. buf = d at step 1)
    d = d + momentum * buf if nesterov else buf
    w = w - learning_rate * d
    ```

    Args:
        learning_rate: float or `keras.optimizers.schedules` schedule.
        momentum: float in [0, 1).
        nesterov: bool, Nesterov momentum (needs `momentum > 0`).
        weight_decay: float >= 0, coupled L2 coefficient (PyTorch's
            `weight_decay`). Keras' decoupled `weight_decay` is not used.
        name: optimizer name.
        **kwargs: other base optimizer arguments (e.g. `clipnorm`,
            `gradient_accumulation_steps`).

    Example:
    >>> opt = keras_cmod.training.TorchSGD(0.1, momentum=0.9,
    ...                                    weight_decay=1e-4)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False,
                 weight_decay=0.0, name="torch_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name,
                         weight_decay=None, **kwargs)
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"`momentum` must be in [0, 1). Received: momentum={momentum}"
            )
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum requires momentum > 0.")
        if weight_decay is None or weight_decay < 0:
            raise ValueError(
                "`weight_decay` must be a float >= 0. Received: "
                f"weight_decay={weight_decay}"
            )
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        # Stored under its own name: the base class reads `weight_decay`
        # as the decoupled decay and would apply it a second time.
        self.l2 = float(weight_decay)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(
                variables, "momentum"
            )

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        d = ops.cast(gradient, variable.dtype)
        if self.l2:
            d = ops.add(d, ops.multiply(ops.cast(self.l2, variable.dtype),
                                        variable))
        if self.momentum != 0:
            mu = ops.cast(self.momentum, variable.dtype)
            buf = self.momentums[self._get_variable_index(variable)]
            new_buf = ops.add(ops.multiply(buf, mu), d)
            self.assign(buf, new_buf)
            d = ops.add(d, ops.multiply(new_buf, mu)) if self.nesterov \
                else new_buf
        self.assign_sub(variable, ops.multiply(d, lr))

    def get_config(self):
        config = super().get_config()
        config.pop("weight_decay", None)
        config.update({"momentum": self.momentum, "nesterov": self.nesterov,
                       "weight_decay": self.l2})
        return config


@keras.saving.register_keras_serializable(package="keras_cmod")
class StepLR(keras.optimizers.schedules.LearningRateSchedule):
    """PyTorch's `StepLR` stepped per epoch, as a function of the step.

    `lr = initial_learning_rate * gamma ** (epoch // step_size)` with
    `epoch = step // steps_per_epoch`: the optimizer's iteration counter
    (which checkpoints restore) fully determines the learning rate.

    Args:
        initial_learning_rate: float.
        steps_per_epoch: int > 0, optimizer steps per epoch.
        step_size: int > 0, epochs between decays (30 ImageNet, 100 CIFAR).
        gamma: float, decay factor. Defaults to `0.1`.

    Example:
    >>> sched = keras_cmod.training.StepLR(0.1, steps_per_epoch=10,
    ...                                    step_size=30)
    >>> round(float(sched(300)), 6)
    0.01
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, step_size,
                 gamma=0.1, name="step_lr"):
        if steps_per_epoch < 1 or step_size < 1:
            raise ValueError(
                "`steps_per_epoch` and `step_size` must be >= 1. Received: "
                f"steps_per_epoch={steps_per_epoch}, step_size={step_size}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        self.name = name

    def __call__(self, step):
        epoch = ops.floor_divide(ops.cast(step, "int64"),
                                 self.steps_per_epoch)
        k = ops.cast(ops.floor_divide(epoch, self.step_size), "float32")
        return self.initial_learning_rate * ops.power(
            ops.cast(self.gamma, "float32"), k
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "name": self.name,
        }

"""The l1/l-infinity packet-selection penalty of the AlexNet twins."""

import keras
from keras import ops

from keras_cmod.layers._utils import check_float


@keras.saving.register_keras_serializable(package="keras_cmod")
class PacketSelectionPenalty(keras.regularizers.Regularizer):
    """`lam * sum_l (||w_l||_1 / ||w_l||_inf - 1)` over output columns.

    For a packet-mixing weight of shape `(inputs_per_group, outputs)`, column
    `l` holds the weights that output `l` gives to the packets of its group.
    The ratio is 1 exactly when one packet is selected, so the penalty pushes
    each Gabor channel towards a single DT-CWPT packet (paper, eq. 23).

    Args:
        strength: float >= 0, `lambda` of the section.
        epsilon: float, guards the division for all-zero columns.

    Example:
    >>> pen = keras_cmod.layers.PacketSelectionPenalty(0.5)
    >>> float(pen(np.array([[1.0, 1.0], [0.0, 1.0]])))
    0.5
    """

    def __init__(self, strength, epsilon=1e-12):
        self.strength = check_float(strength, "strength", 0.0)
        self.epsilon = check_float(epsilon, "epsilon", 0.0,
                                   include_minimum=False)

    def __call__(self, x):
        # float32 whatever the weights' dtype, like the other losses (a
        # float16 term cannot be summed with them).
        a = ops.abs(ops.cast(x, "float32"))
        ratio = ops.sum(a, axis=0) / (ops.max(a, axis=0) + self.epsilon)
        return self.strength * ops.sum(ratio - 1.0)

    def get_config(self):
        return {"strength": self.strength, "epsilon": self.epsilon}

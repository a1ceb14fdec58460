"""JAX versions of the benchmark step and memory measurement."""

import numpy as np


def jax_step(fn, weights, backward):
    """A jitted forward (+ gradient) step with Keras' stateless calls.

    `fn(x)` must be a pure function of `x` given the current values of the
    Keras variables; gradients are taken with respect to `weights`.
    """
    import jax
    import keras

    variables = list(weights)

    def loss_fn(values, x):
        with keras.StatelessScope(
            state_mapping=list(zip(variables, values))
        ):
            return jax.numpy.sum(fn(x).astype("float32"))

    if backward:
        compiled = jax.jit(jax.grad(loss_fn))
    else:
        compiled = jax.jit(loss_fn)
    values = [v.value for v in variables]

    def run(x):
        out = compiled(values, x)
        jax.block_until_ready(out)
        return out

    return run, compiled


def temp_bytes(fn, weights, x, backward=True):
    """XLA's temporary buffer size of the compiled step (activations)."""

    _, compiled = jax_step(fn, weights, backward)
    values = [v.value for v in weights]
    stats = compiled.lower(values, np.asarray(x)).compile().memory_analysis()
    return None if stats is None else int(stats.temp_size_in_bytes)

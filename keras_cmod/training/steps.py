"""Per-step `tf.function`s of the training loop (train and eval step).

`_make_train_step` builds one optimizer step (`grad_accum_steps` passes,
loss scaling, gradient all-reduce; see `keras_cmod.training.trainer`) and
`_make_eval_step` one validation batch, both run with `strategy.run` and
reduced with `strategy.reduce`, for every `tf.distribute` strategy.
"""

import tensorflow as tf


def _cross_entropy(labels, logits):
    """Per-example CE from logits (deterministic on every device)."""
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=log_probs.dtype)
    return -tf.reduce_sum(one_hot * log_probs, axis=-1)


def _make_train_step(model, optimizer, strategy, global_batch, accum,
                     loss_scaling):
    tvars = model.trainable_variables
    replicas = strategy.num_replicas_in_sync

    def replica_fn(batches):
        grads = None
        ce_sum = tf.constant(0.0)
        correct = tf.constant(0.0)
        for x, y in batches:
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                per_example = _cross_entropy(y, logits)
                loss = tf.nn.compute_average_loss(
                    per_example, global_batch_size=global_batch * accum
                )
                if model.losses:
                    reg = tf.add_n([tf.cast(v, tf.float32)
                                    for v in model.losses])
                    loss += reg / (replicas * accum)
                scaled = optimizer.scale_loss(loss) if loss_scaling else loss
            g = tape.gradient(
                scaled, tvars,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            ce_sum += tf.reduce_sum(per_example)
            pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
            correct += tf.reduce_sum(
                tf.cast(tf.equal(pred, tf.cast(y, tf.int32)), tf.float32)
            )
        if loss_scaling and replicas > 1:
            # LossScaleOptimizer decides from the *local* gradients whether
            # to skip the step; agree on it first, or replicas diverge.
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g))
                                    for g in grads])
            ctx = tf.distribute.get_replica_context()
            all_finite = ctx.all_reduce(
                tf.distribute.ReduceOp.SUM, tf.cast(finite, tf.float32)
            )
            poison = tf.where(all_finite < replicas, float("nan"), 0.0)
            grads = [g + tf.cast(poison, g.dtype) for g in grads]
        optimizer.apply_gradients(zip(grads, tvars))
        reg_value = (tf.add_n([tf.cast(v, tf.float32) for v in model.losses])
                     if model.losses else tf.constant(0.0))
        return ce_sum, correct, reg_value

    @tf.function
    def train_step(iterator):
        batches = tuple(next(iterator) for _ in range(accum))
        ce_sum, correct, reg = strategy.run(replica_fn, args=(batches,))
        sum_ = tf.distribute.ReduceOp.SUM
        return (
            strategy.reduce(sum_, ce_sum, axis=None),
            strategy.reduce(sum_, correct, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.MEAN, reg, axis=None),
        )

    return train_step


def _make_eval_step(model, strategy):
    def replica_fn(x, y):
        logits = tf.cast(model(x, training=False), tf.float32)
        y = tf.cast(y, tf.int32)
        valid = y >= 0
        safe = tf.maximum(y, 0)
        mask = tf.cast(valid, tf.float32)
        ce = tf.reduce_sum(_cross_entropy(safe, logits) * mask)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(
            tf.cast(tf.logical_and(tf.equal(pred, safe), valid), tf.float32)
        )
        return ce, correct, tf.reduce_sum(mask)

    @tf.function
    def eval_step(iterator):
        x, y = next(iterator)
        out = strategy.run(replica_fn, args=(x, y))
        return tuple(strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                     for v in out)

    return eval_step

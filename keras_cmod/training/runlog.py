"""The run log of a training run: `log.csv`, TensorBoard and progress bar.

Written by the chief only (a no-op on other workers). Scalars go to
TensorBoard event files through the core `tf.summary.write`, so the
`tensorboard` package is not needed.
"""

import csv
import io
import os

import keras
import tensorflow as tf

from keras_cmod.training import checkpoint as ckpt

# `summary_pb2.DATA_CLASS_SCALAR` (tensorflow/core/framework/summary.proto).
_DATA_CLASS_SCALAR = 1

CSV_FIELDS = (
    "epoch", "global_step", "learning_rate", "loss", "accuracy",
    "val_loss", "val_accuracy", "images_per_sec", "epoch_seconds",
)


def _summary_scalar(name, value):
    """`tf.summary.scalar` without needing the `tensorboard` package.

    Writes the same event as TensorBoard's scalar summary (plugin
    "scalars", data class scalar), through the core `tf.summary.write`.
    """
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = _DATA_CLASS_SCALAR
    tf.summary.write(name, tf.constant(float(value), tf.float32),
                     metadata=metadata)


class _RunLog:
    """CSV + TensorBoard + progress bar (chief only; no-ops elsewhere)."""

    def __init__(self, directory, enabled, verbose, resume_epoch):
        self.enabled = enabled
        self.verbose = verbose
        self.csv_path = os.path.join(directory, "log.csv")
        self.rows = []
        self.writers = {}
        if not enabled:
            return
        if os.path.exists(self.csv_path):
            with open(self.csv_path, newline="") as f:
                self.rows = [_parse_row(r) for r in csv.DictReader(f)
                             if int(r["epoch"]) <= resume_epoch]
            self._write_csv()
        logs = os.path.join(directory, "logs")
        self.writers = {
            "train": tf.summary.create_file_writer(os.path.join(logs,
                                                                "train")),
            "validation": tf.summary.create_file_writer(
                os.path.join(logs, "validation")),
        }

    def _write_csv(self):
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        ckpt.atomic_write_bytes(self.csv_path, buf.getvalue().encode())

    def scalars(self, kind, step, values):
        if not self.enabled:
            return
        with self.writers[kind].as_default(step=step):
            for name, value in values.items():
                if value not in (None, ""):
                    _summary_scalar(name, value)
        self.writers[kind].flush()

    def epoch(self, row):
        if not self.enabled:
            return
        self.rows.append(row)
        self._write_csv()
        step = row["global_step"]
        self.scalars("train", step, {
            "epoch_loss": row["loss"], "epoch_accuracy": row["accuracy"],
            "learning_rate": row["learning_rate"],
            "images_per_sec": row["images_per_sec"],
        })
        if row["val_loss"] != "":
            self.scalars("validation", step, {
                "epoch_loss": row["val_loss"],
                "epoch_accuracy": row["val_accuracy"],
            })

    def progbar(self, target):
        return keras.utils.Progbar(
            target, verbose=1 if (self.enabled and self.verbose == 1) else 0,
            stateful_metrics=["loss", "accuracy", "img/s", "lr"],
            unit_name="step",
        )

    def close(self):
        for w in self.writers.values():
            w.close()


def _parse_row(row):
    out = {}
    for key, value in row.items():
        try:
            out[key] = int(value) if key in ("epoch", "global_step") \
                else float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out

"""Benchmarks: speed ratios measured in the order users run models.

`keras-cmod benchmark` runs the table of `suite.GROUPS`: each group in a
fresh interpreter whose first call on every model is `train_on_batch` (as
a process that starts with `fit`), units timed in interleaved rounds, and
every ratio taken against a baseline of the same process, with its spread.
Results go to one JSON file; `keras-cmod benchmark report` renders the
README's Performance tables from it. Not part of the test suite (the
`--quick` mode is).
"""

from keras_cmod.benchmarks.suite import BACKENDS, GROUPS, SECTIONS

__all__ = ["BACKENDS", "GROUPS", "SECTIONS"]

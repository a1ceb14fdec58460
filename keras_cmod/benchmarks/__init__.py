"""Benchmarks: speed and memory ratios measured within one process run.

Each benchmark compares variants in the same run (ratios, not absolute
times: machines are noisy), repeats every measurement and reports the
median and the spread (interquartile range), prints a table and writes
JSON. `keras-cmod benchmark` runs them; `benchmarks/*.py` in the
repository are thin entry points. Not part of the test suite.
"""

BENCHMARKS = ("layer1", "train_step", "dtcwpt", "resnet50")

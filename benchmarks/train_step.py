"""Benchmark entry point: `python benchmarks/train_step.py [args]`.

Same as `keras-cmod benchmark train_step [args]`; code in keras_cmod/benchmarks.
"""

import sys

from keras_cmod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "train_step", *sys.argv[1:]]))

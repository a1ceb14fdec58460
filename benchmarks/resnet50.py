"""Benchmark entry point: `python benchmarks/resnet50.py [args]`.

Same as `keras-cmod benchmark resnet50 [args]`; code in keras_cmod/benchmarks.
"""

import sys

from keras_cmod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "resnet50", *sys.argv[1:]]))

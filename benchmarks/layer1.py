"""Benchmark entry point: `python benchmarks/layer1.py [args]`.

Same as `keras-cmod benchmark layer1 [args]`; code in keras_cmod/benchmarks.
"""

import sys

from keras_cmod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "layer1", *sys.argv[1:]]))

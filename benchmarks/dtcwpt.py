"""Benchmark entry point: `python benchmarks/dtcwpt.py [args]`.

Same as `keras-cmod benchmark dtcwpt [args]`; code in keras_cmod/benchmarks.
"""

import sys

from keras_cmod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "dtcwpt", *sys.argv[1:]]))

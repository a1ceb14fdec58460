"""Entry point: `python benchmarks/run.py [args]` = `keras-cmod benchmark`.

The code lives in keras_cmod/benchmarks; results go to benchmarks/results/.
"""

import sys

from keras_cmod.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))

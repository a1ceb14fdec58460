"""Entry point: `python benchmarks/run.py [args]` = `keras-cmod benchmark`.

The code lives in keras_cmod/benchmarks. This script is the maintainers'
way to update the recorded results: unless `--output` is given, they go to
the tracked benchmarks/results/benchmarks.json (`keras-cmod benchmark`
alone writes to ./benchmark_results/).
"""

import os
import sys

from keras_cmod.cli import main

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "results", "benchmarks.json")

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--output" or a.startswith("--output=") for a in args):
        args += ["--output", RESULTS]
    sys.exit(main(["benchmark", *args]))

"""Engine benchmark (same as `cartwin bench`): LSODA loop, NumPy Rosenbrock4, numba, libRoadRunner.

Usage:
    PYTHONPATH=src python benchmarks/bench_engines.py --n-slow 200 --n-fast 20000 --threads 2 --json out.json
"""

from cartwin.cli.main import app

if __name__ == "__main__":
    import sys

    app(["bench", *sys.argv[1:]])

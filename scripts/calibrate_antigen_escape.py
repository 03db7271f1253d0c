"""Fit the B-ALL antigen-escape prevalence to ELIANA's CD19-negative share of relapses.

Usage:
    python scripts/calibrate_antigen_escape.py            # n 2,000 per candidate, seed 1 (~1 min on 2 cores)
    python scripts/calibrate_antigen_escape.py --n 500    # quicker, noisier

Writes src/cartwin/population/data/antigen_escape.json, which the ``eliana`` covariate model
reads (cartwin.population.covariates). Method and assumptions: cartwin.calibrate.antigen_escape.
"""

import argparse
import sys
import time

from cartwin.calibrate.antigen_escape import GRID, fit, write
from cartwin.foundation.errors import ValidationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="patients enrolled per candidate prevalence")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.time()
    try:
        record = fit(args.n, args.seed, GRID)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    record["seconds"] = round(time.time() - start, 1)
    path = write(record)
    print(f"prevalence {record['prevalence']} (95 % {record['interval_95']}); simulated share "
          f"{record['simulated_share_at_fit']} against {record['data']['antigen_negative_relapses']}/"
          f"{record['data']['relapses']}; {record['seconds']} s; wrote {path}")


if __name__ == "__main__":
    main()

"""Refit the composite model's calibrated defaults; rewrites src/cartwin/model/data/calibration_v2.json.

Usage: python scripts/calibrate_model_v2.py
"""

from pathlib import Path

from cartwin.calibrate.model_v2 import calibrate

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "src" / "cartwin" / "model" / "data" / "calibration_v2.json"
    record = calibrate(out)
    print(f"wrote {out}")
    for key, value in record["parameters"].items():
        print(f"  {key} = {value:.6g}")
    print("fit quality:", record["fit_quality"])

import pandas as pd

from cartwin.foundation.results import Provenance, read_parquet, write_parquet


def test_parquet_round_trip_keeps_provenance(tmp_path):
    df = pd.DataFrame({"patient_id": [0, 0], "day": [0.0, 1.0], "car_t_per_ul": [0.3, 1.2]})
    prov = Provenance(model="m", model_version="1", engine="e", seed=3, rtol=1e-6)
    path = write_parquet(df, tmp_path / "x" / "t.parquet", prov)
    back = read_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs["provenance"]["seed"] == 3
    assert back.attrs["provenance"]["model"] == "m"
    assert not list(tmp_path.glob("x/*.tmp"))

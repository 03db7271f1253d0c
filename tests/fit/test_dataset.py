"""NONMEM-format datasets: round trip, units, and one-line errors naming row and column."""

import io

import numpy as np
import pandas as pd
import pytest

from cartwin.fit import read_nonmem, simulate_dataset, write_nonmem
from cartwin.fit.problem import make_problem
from cartwin.fit.simulate import STEIN2019_OMEGA2
from cartwin.foundation.errors import DataError, ValidationError
from cartwin.model.library import Stein2019

GOOD = ("ID,TIME,DV,AMT,EVID,MDV,CMT,BLQ,LLOQ,WT\n"
        "1,0,.,1e8,1,1,.,0,.,70\n1,24,350,.,0,0,.,0,10,70\n1,672,.,.,0,0,.,1,10,70\n"
        "2,0,.,1e8,1,1,.,0,.,50\n2,48,35,.,0,0,.,0,10,50\n")


def read(text, **kw):
    return read_nonmem(io.StringIO(text), dv_unit=kw.pop("dv_unit", "copies/ug gDNA"), source="data.csv", **kw)


def test_reads_doses_blq_covariates_and_declared_time_unit():
    ds = read(GOOD, time_unit="hour")
    obs = ds.observations()
    assert obs["TIME_DAY"].tolist() == [1.0, 28.0, 2.0]
    assert obs["CENS"].tolist() == [0, 1, 0] and obs["LLOQ"].tolist() == [10.0, 10.0, 10.0]
    assert len(ds.doses()) == 2 and ds.covariates == ("WT",)
    assert ds.covariate_table()["WT"].tolist() == [70.0, 50.0]


def test_cens_with_dv_as_the_limit_nlmixr2_convention():
    ds = read("ID,TIME,DV,CENS\n1,1,5,0\n1,2,50,1\n")
    assert ds.observations()["LLOQ"].tolist()[1] == 50.0


def test_simulated_cohort_round_trips(tmp_path):
    ds, _ = simulate_dataset(Stein2019(), 5, omega2=STEIN2019_OMEGA2, sigma=0.5, seed=2, missing=0.3, lloq=50.0,
                             dose_amount=1e8, covariates={"WT": np.array([20.0, 30, 40, 50, 60])})
    path = write_nonmem(ds, tmp_path / "d.csv")
    back = read_nonmem(path, dv_unit=ds.dv_unit)
    cols = ["ID", "TIME_DAY", "DV", "AMT", "EVID", "MDV", "CMT", "CENS", "LLOQ", "WT"]
    pd.testing.assert_frame_equal(back.frame[cols], ds.frame[cols])
    # and in hours
    path = write_nonmem(ds, tmp_path / "h.csv", time_unit="hour")
    back = read_nonmem(path, dv_unit=ds.dv_unit, time_unit="hour")
    np.testing.assert_allclose(back.frame["TIME_DAY"], ds.frame["TIME_DAY"], rtol=1e-14)


@pytest.mark.parametrize("change, row, column, words", [
    (("\n2,0,.", "\n,0,."), 5, "ID", "missing ID"),
    (("1,672,", "1,12,"), 4, "TIME", "earlier than"),
    (("350", "abc"), 3, "DV", "'abc'"),
    (("1,24,350,.,0", "1,24,350,.,7"), 3, "EVID", "unknown EVID"),
    (("1,24,350,.,0", "1,24,350,.,3"), 3, "EVID", "reset"),
    (("1,24,350,.,0,0,.,0,10,70", "1,24,350,.,0,0,.,0,10,71"), 3, "WT", "changes within ID"),
])
def test_bad_datasets_get_one_line_errors_naming_row_and_column(change, row, column, words):
    with pytest.raises(DataError) as err:
        read(GOOD.replace(*change))
    msg = str(err.value)
    assert f"row {row}" in msg and f"column '{column}'" in msg and words in msg and "\n" not in msg


def test_other_refusals():
    with pytest.raises(DataError, match="column TIME"):
        read("ID,DV\n1,3\n")
    with pytest.raises(DataError, match="zero-order infusions"):
        read("ID,TIME,DV,RATE\n1,0,3,5\n")
    with pytest.raises(DataError, match="appears again"):
        read("ID,TIME,DV\n1,0,3\n2,0,3\n1,1,3\n")
    with pytest.raises(ValidationError, match="time_unit"):
        read(GOOD, time_unit="fortnight")


def test_dv_unit_is_checked_against_the_model_observable():
    with pytest.raises(ValidationError, match="dv_unit"):
        make_problem(Stein2019(), read(GOOD, dv_unit="cells/uL"))
    make_problem(Stein2019(), read(GOOD, dv_unit="copies/µg gDNA"))  # same unit, spelled otherwise

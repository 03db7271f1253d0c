"""MAP per patient: recovers each patient's parameters inside the table's bounds; standard errors cover."""

import numpy as np
import pytest

from cartwin.fit import fit_individual, make_problem, simulate_dataset
from cartwin.fit.simulate import STEIN2019_OMEGA2
from cartwin.foundation.errors import ValidationError
from cartwin.model.library import Kimmel2021, Stein2019


def test_map_recovers_patients_with_small_noise_and_standard_errors_cover():
    model = Stein2019()
    ds, truth = simulate_dataset(model, 12, omega2=STEIN2019_OMEGA2, sigma=0.05, seed=4)
    fit = fit_individual(make_problem(model, ds), omega2=STEIN2019_OMEGA2, sigma=0.05)
    est = fit.estimates()
    for name in model.parameter_specs():
        err = np.abs(np.log(est[name].to_numpy() / truth[name]))
        assert np.median(err) < 0.15, name
    t = fit.table
    t = t.assign(truth=[truth[p][int(i) - 1] for i, p in zip(t["ID"], t["parameter"], strict=True)])
    covered = ((t["ci95_low"] <= t["truth"]) & (t["truth"] <= t["ci95_high"])).mean()
    assert covered > 0.75
    assert (t["se"] > 0).all()
    specs = model.parameter_specs()
    assert ((t["estimate"] >= t["parameter"].map(lambda p: specs[p].low)) &
            (t["estimate"] <= t["parameter"].map(lambda p: specs[p].high))).all()


def test_estimate_must_name_model_parameters_and_large_models_need_a_choice():
    ds, _ = simulate_dataset(Stein2019(), 2, omega2={"foldx": 0.1}, sigma=0.1, seed=1)
    with pytest.raises(ValidationError, match="estimate"):
        make_problem(Stein2019(), ds, estimate=["k_kill"])
    with pytest.raises(ValidationError, match="observable"):
        make_problem(Kimmel2021(), ds)


def test_an_imported_sbml_model_can_be_fitted():
    pytest.importorskip("libsbml")
    from pathlib import Path

    path = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "sbml" / "BIOMD0000001041.xml"
    if not path.exists():
        pytest.skip("shared SBML files not present")
    from cartwin.model import from_sbml

    model = from_sbml(path)
    ds, truth = simulate_dataset(model, 6, omega2={"rho_C": 0.3, "b": 0.3}, sigma=0.05, seed=2, observable="CAR_T_cells",
                                 sample_days=(3.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0))
    problem = make_problem(model, ds, estimate=["rho_C", "b"], observable="CAR_T_cells")
    fit = fit_individual(problem, omega2={"rho_C": 0.3, "b": 0.3}, sigma=0.05)
    est = fit.estimates()
    for name in ("rho_C", "b"):
        assert np.median(np.abs(np.log(est[name].to_numpy() / truth[name]))) < 0.2, name

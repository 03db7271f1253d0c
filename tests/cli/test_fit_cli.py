"""``cartwin fit`` end to end on a real-format dataset (doses, covariates, BLQ rows), its bad-input
errors, ``cartwin simulate-data`` and ``cartwin simulate --nonmem`` (round trip into fit)."""

import numpy as np
from typer.testing import CliRunner

from cartwin.cli.main import app
from cartwin.fit import read_nonmem

runner = CliRunner()


def test_simulate_data_then_population_fit_from_the_cli(tmp_path):
    data = tmp_path / "data.csv"
    r = runner.invoke(app, ["simulate-data", "--patients", "25", "--seed", "3", "--out", str(data)])
    assert r.exit_code == 0, r.output
    # add a covariate column (real datasets carry them): weight per patient
    lines = data.read_text().splitlines()
    lines = [lines[0] + ",WT"] + [ln + f",{20 + int(ln.split(',')[0])}" for ln in lines[1:]]
    data.write_text("\n".join(lines) + "\n")
    ds = read_nonmem(data, dv_unit="copies/ug gDNA")
    assert ds.summary()["blq_observations"] > 0 and ds.summary()["dose_records"] == 25
    out = tmp_path / "fit"
    r = runner.invoke(app, ["fit", str(data), "--model", "stein2019", "--dv-unit", "copies/ug gDNA", "--population",
                            "--iterations", "30,20", "--covariate", "C_max_copies_per_ug=WT", "--out", str(out)],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "log foldx" in r.output and "beta WT on C_max_copies_per_ug" in r.output
    for name in ("estimates.csv", "individual.csv", "predictions.csv", "vpc.csv", "summary.json", "report.html",
                 "population.json"):
        assert (out / name).stat().st_size > 0, name
    # the fitted population in a virtual trial: Stein 2019's expansion parameters have no
    # counterpart in the composite model and are refused by name; the mapped ones are used
    trial = ["trial", "zuma-1", "--n", "12", "--follow-up-days", "60", "--population", str(out), "--out", str(tmp_path / "t")]
    r = runner.invoke(app, trial, env={"COLUMNS": "200"})
    assert r.exit_code == 2, r.output
    assert "foldx" in r.output and "--population-parameters" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, [*trial, "--population-parameters", "alpha_per_day,beta_per_day"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    import json

    record = json.loads((tmp_path / "t" / "endpoints.json").read_text())["fitted_population"]
    assert record["mapping"] == {"alpha_per_day": "d_effector_per_day", "beta_per_day": "d_memory_per_day"}
    r = runner.invoke(app, [*trial, "--population-parameters", "gamma"], env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "--population-parameters" in r.output, r.output


def test_individual_fit_from_the_cli(tmp_path):
    data = tmp_path / "data.csv"
    runner.invoke(app, ["simulate-data", "--patients", "4", "--seed", "1", "--out", str(data)])
    r = runner.invoke(app, ["fit", str(data), "--dv-unit", "copies/ug gDNA", "--out", str(tmp_path / "ind")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ind" / "individual_estimates.csv").exists()


def test_bad_dataset_and_options_exit_2_with_one_line(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("ID,TIME,DV,EVID\n1,0,5,0\n1,1,abc,0\n")
    r = runner.invoke(app, ["fit", str(data), "--dv-unit", "copies/ug gDNA", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "row 3, column 'DV'" in r.output
    data.write_text("ID,TIME,DV,EVID\n1,0,5,0\n1,1,6,9\n")
    r = runner.invoke(app, ["fit", str(data), "--dv-unit", "copies/ug gDNA", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown EVID" in r.output
    data.write_text("ID,TIME,DV\n1,0,5\n1,1,6\n")
    r = runner.invoke(app, ["fit", str(data), "--dv-unit", "cells/uL", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "dv_unit" in r.output
    r = runner.invoke(app, ["fit", str(data), "--dv-unit", "copies/ug gDNA", "--covariate", "foldx", "--population"])
    assert r.exit_code == 2 and "PARAMETER=COLUMN" in r.output


def test_simulate_nonmem_round_trips_into_the_dataset_reader(tmp_path):
    path = tmp_path / "patient.csv"
    r = runner.invoke(app, ["simulate", "--days", "60", "--out", str(tmp_path / "run"), "--nonmem", str(path)])
    assert r.exit_code == 0, r.output
    ds = read_nonmem(path, dv_unit="copies/ug gDNA")
    obs = ds.observations()
    assert obs["TIME_DAY"].tolist() == [1.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 56.0]
    assert (obs["DV"] > 0).all() and ds.covariates == ("WT", "HT")
    # the course given: Flu/Cy on days -5..-3, the infusion, and the policy's tocilizumab/dexamethasone
    doses = ds.doses()
    assert set(doses["CMT"]) >= {"fludarabine", "cyclophosphamide", ""}
    assert (doses["CMT"] == "").sum() == 1
    # a fit of the composite model with these dose rows simulates that course exactly
    from cartwin.fit import make_problem
    from cartwin.model import CarTPatientModel

    units = {"car_t": "cells", "fludarabine": "mg/m2", "cyclophosphamide": "mg/m2", "toci_central": "mg", "dex_central": "mg"}
    p = make_problem(CarTPatientModel(), ds, estimate=["k_prolif_per_day"], observable="transgene_copies_per_ug",
                     amt_unit=units, product="axi-cel", indication="lbcl")
    assert p.dosing["lymphodepletion"] == "dataset rows"
    np.testing.assert_allclose(p.predict(p.to_phi(p.reference)[None, :]), p.obs_dv, rtol=1e-4)
    fit = ["fit", str(path), "--model", "cart", "--product", "axi-cel", "--indication", "lbcl", "--estimate",
           "k_prolif_per_day", "--observable", "transgene_copies_per_ug", "--dv-unit", "copies/ug gDNA",
           "--out", str(tmp_path / "f")]
    r = runner.invoke(app, fit)
    assert r.exit_code == 2 and "--amt-unit" in r.output, r.output
    r = runner.invoke(app, [*fit, *[x for k, v in units.items() for x in ("--amt-unit", f"{k}={v}")]])
    assert r.exit_code == 0, r.output
    assert "k_prolif_per_day" in r.output

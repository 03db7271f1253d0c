"""Property tests over the documented parameter bounds: positivity, finiteness, status."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwin.foundation import SolveStatus
from cartwin.model import CarTPatientModel
from cartwin.therapy import Covariates, Regimen, simulate_course

CELL_COLUMNS = ["car_t_per_ul", "host_t_cells_per_ul", "tumor_cells", "tumor_antigen_neg_cells", "b_cells_per_ul",
                "il6_pg_per_ml", "ifng_pg_per_ml", "crp_mg_per_l", "transgene_copies_per_ug"]
# Parameters a virtual population varies; each sampled log-uniformly across its documented bounds.
VARIED = ["k_prolif_per_day", "d_effector_per_day", "k_memory_activation_per_day", "gamma_kill_per_day",
          "k_kill_cells_per_ul", "K_antigen_cells_per_ul", "r_tumour_per_day", "homeostatic_scale",
          "p_il6_myeloid_pg_per_ml_day", "k_exhaustion_per_day", "d_memory_per_day"]
SPECS = CarTPatientModel.parameter_specs()


def _log_uniform(name):
    spec = SPECS[name]
    lo = max(spec.low, spec.value / 100.0, 1e-6)
    hi = min(spec.high, max(spec.value, 1e-6) * 10.0)
    return st.floats(np.log(lo), np.log(hi)).map(np.exp)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.fixed_dictionaries({name: st.lists(_log_uniform(name), min_size=3, max_size=3) for name in VARIED}),
    tumour=st.lists(st.floats(8.0, 12.0).map(lambda x: 10**x), min_size=3, max_size=3),
    neg=st.lists(st.sampled_from([0.0, 1e-6, 1e-3, 0.1]), min_size=3, max_size=3),
)
def test_no_negative_cells_no_nan_status_per_patient(values, tumour, neg):
    overrides = {k: np.array(v) for k, v in values.items()}
    res = simulate_course(
        Regimen("axi-cel", "lbcl"),
        Covariates(weight_kg=70.0, tumour_baseline_cells=np.array(tumour), antigen_negative_fraction=np.array(neg)),
        days=60,
        param_overrides=overrides,
        rtol=1e-5,
    )
    tc = res.timecourse()
    assert len(res.solution.status) == 3
    ok_ids = np.flatnonzero(res.solution.status == SolveStatus.SUCCESS)
    sub = tc[tc["patient_id"].isin(ok_ids)]
    values = sub[CELL_COLUMNS].to_numpy()
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0.0)
    # Failed patients are flagged in the table, never silently mixed in.
    assert set(tc.loc[~tc["patient_id"].isin(ok_ids), "status"]) <= {"max_steps_reached", "step_size_too_small", "nonfinite_state"}

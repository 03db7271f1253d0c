"""Product classes in the in-vivo model: off-the-shelf cells persist less; CAR-NK releases less IL-6."""

import numpy as np

from cartwin.therapy import Covariates, Regimen, simulate_course


def _course(product, days=120):
    return simulate_course(Regimen(product, "lbcl", dose_cells=1.4e8, per_kg=False),
                           Covariates(weight_kg=70.0, tumour_baseline_cells=3e10), days=days)


def test_allogeneic_and_nk_persist_less_than_autologous():
    late = {}
    for product in ("axi-cel", "allo-cd19", "car-nk-cd19"):
        tc = _course(product).timecourse().set_index("day")
        late[product] = tc.loc[90.0, "car_t_per_ul"]
    assert late["allo-cd19"] < 0.5 * late["axi-cel"]
    assert late["car-nk-cd19"] < 0.5 * late["axi-cel"]


def test_car_nk_drives_less_il6_than_autologous_car_t():
    peak = {p: _course(p, days=28).summary()["il6_max_pg_per_ml"].iloc[0] for p in ("axi-cel", "car-nk-cd19")}
    assert peak["car-nk-cd19"] < peak["axi-cel"]


def test_journey_products_map_onto_model_parameters():
    import pandas as pd

    from cartwin.journey import get_product
    from cartwin.trial.runner import _in_vivo_overrides

    rows = []
    for key in ("axi-cel", "allo-cd19", "car-nk-cd19"):
        attrs = get_product(key).in_vivo_attributes("standard")
        rows.append(attrs)
    journey = pd.DataFrame(rows)
    mapped = _in_vivo_overrides(journey, {})
    assert mapped["k_rejection_per_day"][0] == 0.0
    assert np.all(mapped["k_rejection_per_day"][1:] > 0)
    assert mapped["p_il6_myeloid_pg_per_ml_day"][2] < mapped["p_il6_myeloid_pg_per_ml_day"][0]

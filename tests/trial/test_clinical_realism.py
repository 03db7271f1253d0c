"""Clinical-realism suite: every preset with the joint calibration's parameters, n = 500, two years (model v2).

Each check (cartwin.trial.realism) compares a simulated quantity with a published value or a
stated physiological bound, named with its source in the check or in
src/cartwin/trial/data/clinical_realism.csv. Checks that model v2 does not meet yet are listed
in KNOWN_FAILING with the reason; they are strict xfails, so a fix shows up as a failure to
remove them from the list. docs/validation.md has the same table (scripts/generate_realism.py).
"""

import numpy as np
import pytest

from cartwin.trial.protocol import list_protocols, load_protocol
from cartwin.trial.realism import GENERAL_CHECKS, realism_table, trial_checks
from cartwin.trial.runner import run_trial

N, SEED, DAYS = 500, 1, 730.0
PRESETS = [p for p in list_protocols() if not load_protocol(p).is_placeholder]

#: (preset, check) -> why model v2 misses it (recorded in docs/validation.md; issue notes).
KNOWN_FAILING: dict[tuple[str, str], str] = {
    # Measured with the model v2.5 joint calibration (B-ALL escape subclone fitted, three refinement rounds; 2026-12-08; scripts/generate_realism.py, n 500, seed 1, 730 d).
    ('cartitude-1', 'crs_onset_median_day'): "cilta-cel's late CRS (median day 7) needs a product-specific expansion/engagement time scale; CRS onset set by one assumed engagement lag (3 d) for every product (simulated 2)",
    ('cartitude-1', 'icans_duration_median_day'): "mild ICANS lasts while the endothelium stays activated: one neurovascular band and recovery rate for every product gives LBCL's 11-21 d (passing since v2.3) but not myeloma's 3-4 d (simulated 9)",
    ('cartitude-1', 'cmax_copies_median'): "peak copies an order below the published Cmax: cilta-cel's jointly fitted expansion factor is at its upper bound (x2) (simulated 2.28e+03)",
    ('eliana', 'cmax_copies_median'): "peak copies below the published Cmax (typical value 24,000, criterion within 3x) with the v2.5 joint fit's tisa-cel factors (expansion x1.65, per-cell killing x10) (simulated 5.63e+03)",
    ('eliana', 'tocilizumab_among_crs'): 'ELIANA runs severe-crs-only (tocilizumab from ASTCT grade 3), but its Penn/CHOP practice gave tocilizumab from Penn grade 3, ASTCT grade 2 at the bedside; penn-chop matches the share (0.53 at the v2.3 factors) but its joint refit was no better (objective 199.4 against 197.8; fresh seed 43/53, left out 19/53; ZUMA-2 late CRS and ICANS 1.3 %): docs/model.md, v2.4 (simulated 0.288)',
    ('eliana', 'steroids_among_crs'): 'steroids for CRS follow tocilizumab-refractory CRS, which the model cannot produce (docs/model.md, Known limitations: under tocilizumab the capillary leak cannot reach the vasopressor threshold); ICANS grade 3 brings the few courses (simulated 0.0763)',
    ('juliet', 'car_t_peak_after_day28'): "the v2.5 joint refit put tisa-cel's per-cell killing at its box bound (k_kill x10, proliferation x1.65): in JULIET's LBCL slow killing leaves antigen for weeks and some expansions peak after day 28 (v2.4: inside) (simulated 0.0299)",
    ('juliet', 'crs_after_day30'): 'the same late expansions (tisa-cel k_kill at its bound after the v2.5 refit) start CRS after day 30 in ~2 % of JULIET patients (v2.4: inside) (simulated 0.021)',
    ('juliet', 'cytopenia_grade3plus_day28'): 'the stem-reserve toxicities were set on this check before the joint fit; JULIET now has more severe CRS (0.48 against 0.23), so more inflammation-driven cytopenia (simulated 0.76)',
    ('karmma', 'icans_onset_median_day'): "ICANS follows the engagement-lagged CRS; ide-cel's day-2 ICANS onset is earlier than the neurovascular lag allows (simulated 4)",
    ('karmma', 'icans_duration_median_day'): "mild ICANS lasts while the endothelium stays activated: one neurovascular band and recovery rate for every product gives LBCL's 11-21 d (passing since v2.3) but not myeloma's 3-4 d (simulated 10)",
    ('karmma', 'neutropenia_grade3plus_day28'): 'more inflammation than JULIET, so the stem reserve set on JULIET leaves too many KarMMa patients neutropenic at day 28 (simulated 0.749)',
    ('transcend', 'car_t_peak_after_day28'): "borderline: liso-cel's refitted per-cell killing (k_kill x2.6 in v2.5, was x1.15) leaves a few LBCL tumours long enough for expansions to peak after day 28 (v2.4: inside) (simulated 0.0205)",
    ('transcend', 'icans_onset_median_day'): "liso-cel's ICANS starts with the CRS-driven endothelium (one neurovascular lag for every product); published median day 9 (simulated 4)",
    ('zuma-1', 'antigen_negative_share_of_relapses'): "antigen-negative relapses are set by the baseline antigen-negative fraction; with the joint fit's LBCL killing more relapses are antigen-positive (simulated 0.11)",
    ('zuma-1', 'b_cells_recovered_day365_cr'): 'B cells recover in most CR patients by day 365 (published 58 %): CAR-T persistence too short for axi-cel (median CAR-T at day 365 ~1e-4/uL) (simulated 0.884)',
    ('zuma-2', 'crs_duration_median_day'): 'CRS duration shorter than published for brexu-cel: tocilizumab ends the fever at once (simulated 2)',
    ('zuma-2', 'icans_onset_median_day'): "brexu-cel's fast expansion activates the endothelium within 2 days, and the ICE-9 threshold (neurovascular activation 0.30 since v2.3) is crossed with it; one neurovascular lag for every product (simulated 2)",
}


@pytest.fixture(scope="module")
def tables():
    return {}


def _table(tables, preset):
    if preset not in tables:
        tables[preset] = realism_table(run_trial(preset, N, SEED, follow_up_days=DAYS), preset)
    return tables[preset]


CASES = [(p, c.name) for p in PRESETS for c in (*GENERAL_CHECKS, *trial_checks(p))]


@pytest.mark.parametrize("preset,check", CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_clinical_realism(tables, preset, check):
    row = _table(tables, preset).set_index("check").loc[check]
    if row["status"] == "not measurable":
        pytest.skip(f"{preset} {check}: not measurable at n = {N} (too few patients with the event)")
    if (preset, check) in KNOWN_FAILING:
        if row["status"] == "pass":
            pytest.fail(f"{preset} {check} now passes ({row['simulated']:.4g}): remove it from KNOWN_FAILING")
        pytest.xfail(KNOWN_FAILING[(preset, check)])
    assert row["low"] <= row["simulated"] <= row["high"], (
        f"{preset} {check}: simulated {row['simulated']:.4g} outside [{row['low']:.4g}, {row['high']:.4g}] "
        f"(published {row['published']}; {row['source']})")


def test_every_trial_row_names_a_known_quantity_and_a_source():
    from importlib import resources

    import pandas as pd

    from cartwin.trial.realism import MEASURES

    table = pd.read_csv(resources.files("cartwin.trial").joinpath("data/clinical_realism.csv").open())
    assert set(table["quantity"]) <= set(MEASURES)
    assert table["source"].str.len().gt(10).all() and (table["low"] <= table["high"]).all()
    assert set(table["preset"]) <= set(PRESETS)


@pytest.mark.slow
def test_zuma1_toxicity_endpoints_do_not_depend_on_follow_up_length():
    """Issue 'Model v2': a ZUMA-1 trial of 1,000 patients, same seed, 365 vs 730 days: every
    toxicity endpoint within 1 point (model v1: 11 of 200 patients differed, one Cmax by 371x).
    Run with ``pytest -m slow tests/trial/test_clinical_realism.py``."""
    short = run_trial("zuma-1", 1000, SEED, follow_up_days=365.0).endpoints["infused"]
    long = run_trial("zuma-1", 1000, SEED, follow_up_days=730.0).endpoints["infused"]
    for name in ("crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus", "tocilizumab_rate", "steroid_rate"):
        assert abs(short[name]["estimate"] - long[name]["estimate"]) <= 0.01, name


def test_relapse_free_share_counts_relapse_or_death_within_a_year_of_response():
    import pandas as pd

    from cartwin.trial.realism import MEASURES

    measure = MEASURES["relapse_free_12m_responders"][1]
    # 10 responders: 3 relapse or die within a year of response, 2 after, 5 never; 2 non-responders ignored.
    p = pd.DataFrame({
        "best_response": ["CR"] * 8 + ["PR"] * 2 + ["NR", "NR"],
        "dor_event": [True, True, True, True, True, False, False, False, False, False, True, True],
        "dor_day": [30.0, 200.0, 365.0, 400.0, 600.0, 700.0, 700.0, 650.0, 690.0, 700.0, np.nan, np.nan],
    })
    assert measure(p) == pytest.approx(0.7)
    assert np.isnan(measure(p.iloc[:5]))  # fewer than 10 responders: not measurable

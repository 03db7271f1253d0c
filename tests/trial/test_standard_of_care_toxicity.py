"""Standard-of-care toxicity: grade >= 3 adverse events drawn at the rates of each regimen's own
source, reproducibly per patient, and shown per arm beside the CAR-T arm's toxicity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.trial import standard_of_care as soc
from cartwin.trial.comparative import run_comparative
from cartwin.trial.protocol import load_protocol, protocol_from_dict
from cartwin.trial.standard_of_care import (
    REGIMENS,
    TOXICITY_EVENTS,
    AdverseEventRate,
    adverse_events,
    draw_toxicity,
    regimen_toxicity_table,
    simulate_soc,
)

N = 20_000
WITH_TOXICITY = sorted(k for k, r in REGIMENS.items() if r.toxicity)


def test_every_regimen_but_scholar1_and_locommotion_has_toxicity_with_sources():
    # SCHOLAR-1 is a retrospective survival pool (no AEs); LocoMMotion's abstract gives grade 3/4
    # events only as a total (52.8 %), no per-event rates: not modelled rather than guessed.
    assert set(WITH_TOXICITY) == set(REGIMENS) - {"lbcl-refractory-scholar1", "mm-real-world-locommotion"}
    table = regimen_toxicity_table()
    assert len(table) == sum(len(r.toxicity) for r in REGIMENS.values())
    assert table["source"].str.contains("recalled").all()  # none was read from the paper here
    for name in ("ZUMA-7", "TRANSFORM", "BELINDA", "KarMMa-3", "CARTITUDE-4"):  # the prediction test's trials
        assert not table["source"].str.contains(name, case=False).any()


@pytest.mark.parametrize("key", WITH_TOXICITY)
def test_drawn_rates_reproduce_their_sources(key):
    """At 20,000 patients each drawn rate lies inside its source's 95 % binomial interval and
    within 4 binomial SEs of the model's rate (among the transplanted for an ASCT rate)."""
    sim = simulate_soc(key, np.arange(N), seed=11, horizon_days=730.0)
    for ae in REGIMENS[key].toxicity:
        values = sim[ae.event].to_numpy(float)
        assert np.isfinite(values).all()
        at_risk = sim["consolidated"].to_numpy(bool) if ae.among == "transplanted" else np.ones(N, bool)
        if ae.among == "transplanted":
            assert (values[~at_risk] == 0).all()  # no ASCT death without an ASCT
        k, n = int(values[at_risk].sum()), int(at_risk.sum())
        lo, hi = ae.interval()
        assert lo <= k / n <= hi, (key, ae.event, k / n, (lo, hi))
        se = np.sqrt(ae.rate * (1 - ae.rate) / n)
        assert abs(k / n - ae.rate) <= 4 * se + 1e-12, (key, ae.event, k / n, ae.rate)
    for event in TOXICITY_EVENTS:  # what the source does not report is not modelled, not zero
        if event not in {ae.event for ae in REGIMENS[key].toxicity}:
            assert sim[event].isna().all()


def test_febrile_neutropenia_is_a_subset_of_grade3_neutropenia():
    sim = simulate_soc("mm-dpd", np.arange(5000), seed=3, horizon_days=730.0)
    fn, neut = sim["febrile_neutropenia_grade3plus"] == 1, sim["neutropenia_grade3plus"] == 1
    assert fn.any() and not (fn & ~neut).any()


def test_draws_are_reproducible_and_independent_of_sharding():
    ids = np.arange(400)
    regimens = np.where(ids % 2 == 0, "mm-pvd", "mm-dpd")
    transplanted = np.zeros(ids.size, bool)
    a = draw_toxicity(regimens, transplanted, ids, seed=7)
    b = draw_toxicity(regimens, transplanted, ids, seed=7)
    shard = draw_toxicity(regimens[250:], transplanted[250:], ids[250:], seed=7)
    other = draw_toxicity(regimens, transplanted, ids, seed=8)
    for event in TOXICITY_EVENTS:
        np.testing.assert_array_equal(a[event], b[event])
        np.testing.assert_array_equal(a[event][250:], shard[event])
    assert not np.array_equal(a["neutropenia_grade3plus"], other["neutropenia_grade3plus"])


def test_toxicity_leaves_the_response_and_survival_draws_unchanged(monkeypatch):
    """The toxicity draws have their own substream: without them every other column is the same."""
    with_tox = simulate_soc("lbcl-salvage-coral", np.arange(300), seed=4, horizon_days=730.0)
    bare = {k: replace(r, toxicity=()) for k, r in REGIMENS.items()}
    monkeypatch.setattr(soc, "REGIMENS", bare)
    without = simulate_soc("lbcl-salvage-coral", np.arange(300), seed=4, horizon_days=730.0)
    events = list(TOXICITY_EVENTS)
    assert without[events].isna().all().all()
    pd.testing.assert_frame_equal(with_tox.drop(columns=events), without.drop(columns=events))


# ---- bad input names the field ---------------------------------------------------------------
def _entry(**change):
    return {"rate": 0.3, "n": 100, "source": "trial X, arm A, safety table", **change}


@pytest.mark.parametrize(("table", "field"), [
    ({"neutropenia_grade3plus": _entry(rate=1.2)}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.rate"),
    ({"neutropenia_grade3plus": _entry(rate=-0.1)}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.rate"),
    ({"neutropenia_grade3plus": _entry(rate="30%")}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.rate"),
    ({"neutropenia_grade3plus": _entry(n=0)}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.n"),
    ({"neutropenia_grade3plus": _entry(among="responders")}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.among"),
    ({"neutropenia_grade3plus": _entry(source="")}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.source"),
    ({"neutropenia_grade3plus": _entry(rates=0.3)}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.rates"),
    ({"neutropenia_grade3plus": {"rate": 0.3, "source": "x"}}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus.n"),
    ({"neutropenia": _entry()}, "standard_of_care.mm-x.toxicity.neutropenia.event"),
    ({"neutropenia_grade3plus": 0.3}, "standard_of_care.mm-x.toxicity.neutropenia_grade3plus"),
])
def test_bad_toxicity_data_names_the_field(table, field):
    with pytest.raises(ValidationError) as err:
        adverse_events("mm-x", table)
    assert err.value.field == field
    assert field in str(err.value)


def test_bad_toxicity_in_a_regimen_names_the_regimen_and_field():
    dpd = REGIMENS["mm-dpd"]
    with pytest.raises(ValidationError) as err:
        replace(dpd, toxicity=(AdverseEventRate("anaemia_grade3plus", 1.5, 149, "APOLLO"),))
    assert err.value.field == "standard_of_care.mm-dpd.toxicity.anaemia_grade3plus.rate"
    with pytest.raises(ValidationError) as err:  # febrile neutropenia is drawn as a subset of neutropenia
        replace(dpd, toxicity=adverse_events("mm-dpd", {"neutropenia_grade3plus": _entry(rate=0.1),
                                                        "febrile_neutropenia_grade3plus": _entry(rate=0.2)}))
    assert err.value.field == "standard_of_care.mm-dpd.toxicity.febrile_neutropenia_grade3plus.rate"
    with pytest.raises(ValidationError) as err:  # no transplant in the myeloma models
        replace(dpd, toxicity=adverse_events("mm-dpd", {"treatment_related_death": _entry(among="transplanted")}))
    assert err.value.field == "standard_of_care.mm-dpd.toxicity"
    twice = adverse_events("mm-dpd", {"anaemia_grade3plus": _entry()}) * 2
    with pytest.raises(ValidationError, match="each event once"):
        replace(dpd, toxicity=twice)


# ---- per-arm endpoints and the report ------------------------------------------------------
def _soc_vs_parametric(regimen: str):
    data = load_protocol("karmma-3" if regimen.startswith("mm") else "zuma-7").to_dict()
    data["arms"] = {"soc": {"kind": "standard-of-care", "regimen": regimen}, "other": {"kind": "parametric", "median_months": 12.0}}
    data["randomisation"] = {"accrual_days": 365.0, "primary_endpoint": "pfs"}
    return protocol_from_dict(data)


def test_per_arm_endpoints_carry_the_soc_toxicity(tmp_path):
    r = run_comparative(_soc_vs_parametric("mm-pvd"), n=3000, seed=2, follow_up_days=365.0)
    tox = r.endpoints["arms"]["soc"]["toxicity"]
    events = tox["events"]
    for ae in REGIMENS["mm-pvd"].toxicity:
        e = events[ae.event]
        assert e["n"] == r.endpoints["arms"]["soc"]["n"]
        assert abs(e["estimate"] - ae.rate) <= 4 * np.sqrt(ae.rate * (1 - ae.rate) / e["n"]), (ae.event, e, ae.rate)
        assert e["ci_low"] <= e["estimate"] <= e["ci_high"]
    assert {"crs_any_infused", "neutropenia_grade3plus_d28", "anaemia_grade3plus"} <= set(tox["not_modelled"])
    assert "death_without_progression" in events
    other = r.endpoints["arms"]["other"]["toxicity"]  # a parametric arm models no toxicity but deaths
    assert set(other["events"]) == {"death_without_progression"}
    paths = r.write(tmp_path)
    html = paths["report"].read_text()
    assert "Toxicity by arm" in html and "neutropenia_grade3plus" in html and "not modelled" in html


def test_transplant_deaths_are_a_share_of_the_lbcl_arm():
    r = run_comparative(_soc_vs_parametric("lbcl-salvage-coral"), n=4000, seed=3, follow_up_days=365.0)
    events = r.endpoints["arms"]["soc"]["toxicity"]["events"]
    trm = events["treatment_related_death"]
    consolidated = r.endpoints["arms"]["soc"]["consolidation"]["estimate"]
    assert trm["n"] == r.endpoints["arms"]["soc"]["n"]  # a share of the arm (ITT)
    assert abs(trm["estimate"] - 0.03 * consolidated) < 0.01
    assert "neutropenia_grade3plus" not in events  # CORAL's not recalled: not modelled, not zero


def test_car_t_and_soc_arms_share_the_names_of_the_same_events():
    """Grade >= 3 neutropenia at any time: the CAR-T arm's from the model's observed counts (among
    the infused), the SoC arm's drawn from its regimens' sources; one name, one report row."""
    r = run_comparative("cartitude-4", n=16, seed=2, follow_up_days=120.0)
    car_t, control = (r.endpoints["arms"][a.name]["toxicity"]["events"] for a in r.protocol.arms)
    infused = r.endpoints["arms"][r.protocol.arms[0].name]["infused"]["k"]
    for name in ("neutropenia_grade3plus", "thrombocytopenia_grade3plus"):
        assert car_t[name]["n"] == infused and name in control
        assert car_t[name]["definition"] == control[name]["definition"]
    for day in (28, 90):  # a prevalence on one day never exceeds the incidence over the course
        assert car_t[f"neutropenia_grade3plus_d{day}"]["k"] <= car_t["neutropenia_grade3plus"]["k"]
    assert "crs_any_infused" in car_t and "crs_any_infused" not in control

"""Each shipped trial protocol sends its enrolled patients through the journey calibrated to that
trial, so the virtual run's enrolled -> infused fraction matches the trial's published one.

Published counts (shared/reference/pivotal_trials.csv, row numbers of that file):
  JULIET       115/167  rows 43-44  (Schuster et al. Lancet Oncol 2021)
  ELIANA        79/97   rows 3-4    (Grupp et al. ASH 2018)
  ZUMA-1       101/111  rows 68-69  (Ther Adv Hematol 2019 review, Locke 2019)
  TRANSCEND    269/344  rows 93-94  (Abramson et al. Lancet 2020)
  ZUMA-2        68/74   rows 110-111 (BMT 2025 review Table 2, cohort 1)
  KarMMa       128/140  row 140     (Blood review table)
  CARTITUDE-1   97/113  row 155     (Blood review table; Berdeja 2021)
  CT041         88/104  rows 199-200 (CT041-ST-01 satri-cel arm, Qi et al. Lancet 2025; the
                                     phase 1 the protocol models reports treated patients only)
ALPHA/ALPHA2 (33 treated, row 209) and Liu 2020 CAR-NK (11 treated, row 187) publish no
enrolled-but-untreated count: their presets infuse every enrolled patient (an assumption,
checked below).
"""

import pytest
from scipy.stats import binomtest

from cartwin.journey import default_config, get_product, preset_config, simulate_journeys
from cartwin.trial.protocol import list_protocols, load_protocol
from cartwin.trial.runner import _journey_config

N = 1000
SEED = 2026

PUBLISHED = {
    # protocol: (infused, enrolled)
    "juliet": (115, 167),
    "eliana": (79, 97),
    "zuma-1": (101, 111),
    "transcend": (269, 344),
    "zuma-2": (68, 74),
    "karmma": (128, 140),
    "cartitude-1": (97, 113),
    "ct041": (88, 104),
}
OFF_THE_SHELF_ALL_TREATED = ("alpha-allo501", "liu2020-car-nk")


@pytest.fixture(scope="module")
def journeys():
    return {name: simulate_journeys(_journey_config(load_protocol(name)), N, seed=SEED)
            for name in (*PUBLISHED, *OFF_THE_SHELF_ALL_TREATED)}


def test_every_shipped_protocol_is_covered_and_names_its_own_preset():
    assert set(list_protocols()) == set(PUBLISHED) | set(OFF_THE_SHELF_ALL_TREATED)
    for name in list_protocols():
        assert load_protocol(name).journey.name == name


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_infused_fraction_within_published_95ci(journeys, name):
    infused, enrolled = PUBLISHED[name]
    lo, hi = binomtest(infused, enrolled).proportion_ci(0.95, method="exact")
    got = journeys[name]["infused"].mean()
    assert lo <= got <= hi, (name, got, lo, hi)


@pytest.mark.parametrize("name", [n for n in PUBLISHED if n != "ct041"])
def test_published_counts_agree_with_the_protocol_target(name):
    # The protocol's [targets.infused] is the same published count (ct041's phase 1 has none).
    target = load_protocol(name).targets["infused"]
    assert (round(target.value), target.n) == PUBLISHED[name]


@pytest.mark.parametrize("name", OFF_THE_SHELF_ALL_TREATED)
def test_off_the_shelf_presets_infuse_everyone_within_days(journeys, name):
    df = journeys[name]
    assert df["infused"].all()
    assert df["enrolment_to_infusion_day"].median() == pytest.approx(7.0, abs=0.5)  # 2 d + LD 5 d
    assert df["manufacturing_start_day"].isna().all()


def test_zuma1_infuses_more_than_the_default_journey():
    # The point of the change: ZUMA-1 (101/111) no longer infuses JULIET's ~70 %.
    p = load_protocol("zuma-1")
    default = simulate_journeys(default_config(p.product.key), N, seed=SEED)["infused"].mean()
    own = simulate_journeys(_journey_config(p), N, seed=SEED)["infused"].mean()
    assert default < 0.8 < own


@pytest.mark.parametrize("name", [*PUBLISHED, *OFF_THE_SHELF_ALL_TREATED])
def test_product_attributes_are_the_protocols_product(journeys, name):
    # The in-vivo factors (runner._in_vivo_factors) come from the product: unchanged by the preset.
    p = load_protocol(name)
    df = journeys[name]
    assert set(df["product"]) == {p.product.key}
    spec = get_product(p.product.key)
    for column in ("cytokine_release_factor", "neurotoxicity_factor", "host_rejection_rate_per_day"):
        assert set(df[column]) == {getattr(spec, column)}, column


def test_preset_of_another_product_takes_the_protocols_product():
    from dataclasses import replace

    p = load_protocol("zuma-2")
    other = replace(p, journey=replace(p.journey, name="juliet"))
    config = _journey_config(other)
    assert config.product == "brexu-cel"
    assert config.failure_probability == pytest.approx(config.product_spec.manufacturing_failure_probability)
    juliet = preset_config("juliet")
    assert config.total_hazard_per_day == pytest.approx(juliet.total_hazard_per_day)
    assert config.bridging_probability == p.bridging.probability

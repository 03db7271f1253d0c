"""Products: catalogue completeness (units, sources), validation, in-vivo orderings."""

import math

import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.journey import PRODUCT_UNITS, PRODUCTS, get_product, preset_config, simulate_journeys
from cartwin.journey.products import REFERENCE_PERSISTENCE_HALF_LIFE_DAY

AUTOLOGOUS = [k for k, p in PRODUCTS.items() if p.product_class == "autologous_car_t"]
# Like with like for toxicity drive: the CD19 CAR-NK against haematological CAR-T products
# (the solid-tumour CLDN18.2 product had no ICANS at all in CT041).
HAEMATOLOGICAL_AUTOLOGOUS = [k for k in AUTOLOGOUS if PRODUCTS[k].target in ("CD19", "BCMA")]


def test_catalogue_has_the_issue_products():
    expected = {"tisa-cel", "axi-cel", "brexu-cel", "liso-cel", "ide-cel", "cilta-cel", "obe-cel",
                "allo-cd19", "car-nk-cd19"}
    assert expected <= set(PRODUCTS)
    assert get_product("allo-cd19").product_class == "allogeneic_car_t"
    assert get_product("car-nk-cd19").product_class == "car_nk"


@pytest.mark.parametrize("key", list(PRODUCTS))
def test_every_number_has_unit_and_source(key):
    product = PRODUCTS[key]
    for name in PRODUCT_UNITS:
        assert getattr(product, name) is not None or name == "crs_any_grade_reference_fraction"
        assert product.source(name), (key, name)


def test_reference_half_life_is_stein_2019():
    # Stein 2019 (CPT PSP 8:285) beta = 0.0032/day -> 217 d ("~220 d" in the paper's Discussion).
    assert REFERENCE_PERSISTENCE_HALF_LIFE_DAY == pytest.approx(math.log(2) / 0.0032)


@pytest.mark.parametrize("key", AUTOLOGOUS)
def test_allogeneic_and_nk_persist_less_than_autologous(key):
    auto = get_product(key).persistence_half_life_day()
    assert get_product("allo-cd19").persistence_half_life_day() < auto
    assert get_product("car-nk-cd19").persistence_half_life_day() < auto


def test_deeper_lymphodepletion_lengthens_allogeneic_persistence():
    allo = get_product("allo-cd19")
    assert allo.persistence_half_life_day("intensified") > allo.persistence_half_life_day("standard")
    assert allo.effective_rejection_rate_per_day("intensified") < allo.host_rejection_rate_per_day
    # ALLO-501: persistence "up to 4 months" (pivotal_trials.csv): half-life well under that.
    assert allo.persistence_half_life_day() < 120


@pytest.mark.parametrize("key", HAEMATOLOGICAL_AUTOLOGOUS)
def test_car_nk_has_lower_crs_and_icans_drive(key):
    nk, auto = get_product("car-nk-cd19"), get_product(key)
    assert nk.cytokine_release_factor < auto.cytokine_release_factor
    assert nk.neurotoxicity_factor < auto.neurotoxicity_factor
    # Liu 2020 NEJM: CRS 0/11, vs every autologous product's published any-grade CRS rate.
    if auto.crs_any_grade_reference_fraction is not None:
        assert nk.crs_any_grade_reference_fraction < auto.crs_any_grade_reference_fraction


def test_gvhd_only_for_allogeneic_t_cells():
    assert get_product("allo-cd19").gvhd_probability > 0
    assert all(PRODUCTS[k].gvhd_probability == 0 for k in AUTOLOGOUS)
    assert get_product("car-nk-cd19").gvhd_probability == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("manufacturing_failure_probability", 1.2),
        ("transduction_efficiency_fraction", 0.0),
        ("expansion_fold", -1.0),
        ("cd8_fraction", 1.5),
        ("memory_fraction", -0.1),
        ("viability_fraction", 1.0),
        ("target_dose_cells", 0.0),
        ("host_rejection_rate_per_day", -0.01),
        ("gvhd_probability", 2.0),
        ("cytokine_release_factor", -1.0),
        ("product_class", "xenogeneic"),
        ("manufacturing", {"median_day": -3}),
    ],
)
def test_bad_product_values_name_the_field(field, value):
    with pytest.raises(ValidationError) as err:
        get_product("tisa-cel").replace(**{field: value})
    assert err.value.field.startswith(f"product[tisa-cel].{field}")


def test_unknown_product_names_the_field():
    with pytest.raises(ValidationError) as err:
        get_product("tisa-cell")
    assert err.value.field == "product"


def test_off_the_shelf_products_infuse_without_manufacturing_wait():
    auto = simulate_journeys(preset_config("juliet"), 300, seed=5)
    for key in ("allo-cd19", "car-nk-cd19"):
        df = simulate_journeys(preset_config("juliet").replace(product=key, manufacturing_failure_probability=None), 300, seed=5)
        assert df["apheresis_day"].isna().all() and df["manufacturing_start_day"].isna().all()
        assert df["vein_to_vein_day"].isna().all()
        assert (df["not_infused_reason"] != "manufacturing_failure").all()
        infused = df[df["infused"]]
        # ALLO-501: enrolment-to-treatment (lymphodepletion) median 2 d (pivotal_trials.csv).
        assert infused["lymphodepletion_day"].median() <= 3.0
        assert infused["enrolment_to_infusion_day"].max() <= 21.0
        assert infused["enrolment_to_infusion_day"].median() < auto.loc[auto.infused, "enrolment_to_infusion_day"].median() / 3
        assert df["infused"].mean() > auto["infused"].mean()
        assert (infused["persistence_half_life_day"] < auto["persistence_half_life_day"].iloc[0]).all()

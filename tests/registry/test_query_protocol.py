"""Search filters, landscape counts, the figure, and the design -> protocol TOML."""

import tomllib

import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.registry import SearchFilter, parse_study, search, stats, stats_figure
from cartwin.registry.protocol import draft_protocol, parse_dose, to_toml, write_protocol


def ids(df):
    return sorted(df["nct_id"])


def test_search_filters_combine(loaded_registry):
    reg = loaded_registry
    assert ids(search(reg, SearchFilter.create(condition="multiple myeloma", phase="2", target="bcma"))) == [
        "NCT03361748", "NCT03548207"]
    assert ids(search(reg, SearchFilter.create(condition="MM", status="recruiting"))) == ["NCT99000002"]
    assert ids(search(reg, SearchFilter.create(sponsor="kite", phase="3"))) == ["NCT03391466"]
    assert ids(search(reg, SearchFilter.create(sponsor="legend"))) == ["NCT03548207"]  # collaborator
    assert ids(search(reg, SearchFilter.create(country="italy"))) == ["NCT03373097"]
    assert ids(search(reg, SearchFilter.create(target="claudin18.2"))) == ["NCT99000001"]
    assert ids(search(reg, SearchFilter.create(cell_therapy="car-nk"))) == ["NCT03056339", "NCT99000006"]
    assert ids(search(reg, SearchFilter.create(cell_source="allogeneic", condition="LBCL"))) == ["NCT03939026"]
    assert len(search(reg)) == reg.count()
    assert search(reg, SearchFilter.create(target="CD19", country="Atlantis")).empty


@pytest.mark.parametrize("option, value", [("phase", "7"), ("status", "OPENISH"), ("target", "CD999"),
                                           ("cell_therapy", "CAR-X"), ("cell_source", "mixed")])
def test_bad_filters_raise_validation_error_naming_option(option, value):
    with pytest.raises(ValidationError) as info:
        SearchFilter.create(**{option: value})
    assert info.value.field == option


def test_stats_counts_and_figure(loaded_registry, tmp_path):
    table = stats(loaded_registry)
    assert list(table.columns) == ["dimension", "value", "studies"]
    by = {d: dict(zip(p["value"], p["studies"], strict=True)) for d, p in table.groupby("dimension")}
    assert by["target"]["CD19"] == 12 and by["target"]["BCMA"] == 2
    assert sum(by["phase"].values()) == loaded_registry.count()
    assert by["status"]["RECRUITING"] >= 1 and by["year"]["2015"] >= 3
    assert by["country"]["United States"] >= 10
    png = stats_figure(table, tmp_path / "landscape.png")
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize("text, values, per_kg", [
    ("target dose of 2 x 10^6 anti-CD19 CAR T cells/kg", [2e6], True),
    ("150, 300 or 450 x 10^6 CAR+ T cells", [1.5e8, 3e8, 4.5e8], False),
    ("0.6 to 6.0 x 10^8 CAR-positive viable T cells", [6e7, 6e8], False),
    ("1 x 10e8 cells per kg", [1e8], True),
    ("no dose here, 10 patients", None, None),
])
def test_parse_dose(text, values, per_kg):
    found = parse_dose(text)
    if values is None:
        assert found is None
    else:
        assert found["values"] == pytest.approx(values) and found["per_kg"] is per_kg


def test_protocol_stated_fields_are_not_assumed(fixture_records, tmp_path):
    study = parse_study(fixture_records["NCT02348216"], "zuma1")
    path = write_protocol(study, tmp_path / "zuma1.toml")
    proto = tomllib.loads(path.read_text())
    assert proto["trial"]["source_nct"] == "NCT02348216" and proto["trial"]["indication"] == "lbcl"
    assert proto["trial"]["enrolment"] == 307 and proto["trial"]["phase"] == "1/2"
    assert proto["product"] == {"class": "autologous_car_t", "name": "axi-cel", "target": "CD19",
                                "cell_source": "autologous"}
    assert proto["dose"]["value"] == 2e6 and proto["dose"]["per_kg"] is True
    assert proto["lymphodepletion"] == {"regimen": "flu_cy", "fludarabine_mg_per_m2": 30.0,
                                        "cyclophosphamide_mg_per_m2": 500.0}
    assert proto["assumed"] == {}


def test_protocol_marks_every_assumption(fixture_records):
    # Mesothelin CAR-NK: several diseases, no dose, no lymphodepletion stated.
    proto = tomllib.loads(to_toml(draft_protocol(parse_study(fixture_records["NCT99000006"], "x"))))
    assert proto["product"]["class"] == "car_nk"
    assert {"trial.indication", "dose.value", "dose.per_kg", "lymphodepletion.regimen"} <= set(proto["assumed"])
    for entry in proto["assumed"].values():
        assert entry["reason"] and "value" in entry
    # Dose levels: the highest is used, and says so.
    karmma = draft_protocol(parse_study(fixture_records["NCT03361748"], "x"))
    assert karmma["dose"]["value"] == pytest.approx(4.5e8)
    assert "highest" in karmma["assumed"]["dose.value"]["reason"]


def test_protocol_assumes_autologous_when_unstated(record):
    raw = record("NCT99000004")
    ivs = raw["protocolSection"]["armsInterventionsModule"]["interventions"]
    ivs[0]["description"] = "anti-CD19 CAR T cells, 1 x 10^6 CAR T cells/kg"
    raw["protocolSection"]["identificationModule"]["officialTitle"] = "CD19 CAR T cells in lupus"
    raw["protocolSection"]["identificationModule"]["briefTitle"] = "CD19 CAR T cells in lupus"
    raw["protocolSection"]["designModule"].pop("enrollmentInfo")
    proto = draft_protocol(parse_study(raw, "x"))
    assert proto["product"]["class"] == "autologous_car_t"
    assert proto["assumed"]["product.cell_source"]["value"] == "autologous"
    assert proto["assumed"]["trial.enrolment"]["value"] == proto["trial"]["enrolment"]


def test_every_fixture_gives_a_loadable_protocol(fixture_records):
    for nct, raw in fixture_records.items():
        proto = tomllib.loads(to_toml(draft_protocol(parse_study(raw, nct))))
        assert proto["trial"]["source_nct"] == nct
        assert proto["product"]["class"] in ("autologous_car_t", "allogeneic_car_t", "car_nk", "car_nkt", "tcr_t", "other")
        assert proto["dose"]["value"] > 0

"""Classification rules: the fixtures' expected buckets and the table of tricky cases.

Each tricky case is one row of the table in docs/registry.md (keep the two in step).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwin.registry import canonical_antigen, classify, parse_study
from cartwin.registry.classify import find_antigens

from .conftest import minimal


def iv(name, description="", type_="BIOLOGICAL", other=()):
    return {"type": type_, "name": name, "description": description, "otherNames": list(other)}


def study(title="A study", interventions=(), conditions=(), keywords=(), official=None):
    raw = minimal(
        title=title,
        conditionsModule={"conditions": list(conditions), "keywords": list(keywords)},
        armsInterventionsModule={"interventions": list(interventions)},
    )
    if official:
        raw["protocolSection"]["identificationModule"]["officialTitle"] = official
    return parse_study(raw, "case")


@pytest.mark.parametrize(
    "nct, cell_therapy, source, targets, groups",
    [
        ("NCT02348216", "CAR-T", "autologous", ("CD19",), ("LBCL",)),  # tFL counts as LBCL
        ("NCT02435849", "CAR-T", "autologous", ("CD19",), ("ALL",)),
        ("NCT02631044", "CAR-T", "autologous", ("CD19",), ("LBCL", "FL", "MCL")),
        ("NCT03361748", "CAR-T", "autologous", ("BCMA",), ("MM",)),
        ("NCT03548207", "CAR-T", "autologous", ("BCMA",), ("MM",)),
        ("NCT03391466", "CAR-T", "autologous", ("CD19",), ("LBCL",)),  # rituximab arm: not CD20
        ("NCT03056339", "CAR-NK", "allogeneic", ("CD19",), ("CLL", "ALL")),
        ("NCT03939026", "CAR-T", "allogeneic", ("CD19",), ("LBCL", "FL")),  # TCR knockout != TCR-T
        ("NCT04044768", "TCR-T", "autologous", ("MAGE-A4",), ("sarcoma",)),
        ("NCT03373097", "CAR-T", "autologous", ("GD2",), ("neuroblastoma",)),
        ("NCT99000001", "CAR-T", "autologous", ("CLDN18.2",), ("gastric/GEJ", "pancreatic")),
        ("NCT99000002", "CAR-T", "autologous", ("GPRC5D",), ("MM",)),  # "after BCMA-directed therapy"
        ("NCT99000003", "CAR-T", "allogeneic", ("CD7",), ("T-ALL",)),
        ("NCT99000004", "CAR-T", "autologous", ("CD19",), ("SLE",)),
        ("NCT99000005", "CAR-T", "autologous", ("CD19", "CD22"), ("ALL",)),
        ("NCT99000006", "CAR-NK", "allogeneic", ("MSLN",), ("ovarian", "mesothelioma")),
    ],
)
def test_fixture_classification(fixture_records, nct, cell_therapy, source, targets, groups):
    c = classify(parse_study(fixture_records[nct], nct))
    assert (c.cell_therapy, c.cell_source, c.targets) == (cell_therapy, source, targets)
    assert set(c.disease_groups) == set(groups)


TRICKY = [
    # (case, study kwargs, expected cell_therapy, source, targets, groups)
    ("CD19 only as a biomarker in a BCMA CAR-T study",
     dict(title="BCMA CAR-T in Myeloma With Exploratory CD19 Expression Analysis",
          interventions=[iv("BCMA CAR-T", "Autologous anti-BCMA CAR T cells")], conditions=["Multiple Myeloma"]),
     "CAR-T", "autologous", ("BCMA",), ("MM",)),
    ("CD19-negative relapse in title of a CD22 CAR study",
     dict(title="CD22 CAR T Cells for CD19-negative Relapse of B-ALL",
          interventions=[iv("CAR T cells", "Autologous T cells")], conditions=["B-ALL"]),
     "CAR-T", "autologous", ("CD22",), ("ALL",)),
    ("companion antibody names another antigen",
     dict(title="CD19 CAR-T With Rituximab Maintenance",
          interventions=[iv("CD19 CAR-T", "anti-CD19 CAR T cells"), iv("Rituximab", "anti-CD20 antibody", "DRUG")],
          conditions=["Follicular Lymphoma"]),
     "CAR-T", "unknown", ("CD19",), ("FL",)),
    ("bispecific antibody is not a cell therapy",
     dict(title="Blinatumomab in Minimal Residual Disease Positive B-ALL",
          interventions=[iv("Blinatumomab", "CD19/CD3 bispecific T-cell engager", "DRUG")],
          conditions=["Acute Lymphoblastic Leukemia"]),
     "none", "unknown", (), ("ALL",)),
    ("allogeneic transplant is not an allogeneic product",
     dict(title="Autologous CD19 CAR-T for Relapse After Allogeneic Stem Cell Transplantation",
          interventions=[iv("CD19 CAR-T", "CAR T cells")], conditions=["B-ALL"]),
     "CAR-T", "autologous", ("CD19",), ("ALL",)),
    ("transformed FL is LBCL, not FL",
     dict(title="CAR-T in Transformed Follicular Lymphoma", interventions=[iv("axicabtagene ciloleucel")],
          conditions=["Transformed Follicular Lymphoma"]),
     "CAR-T", "autologous", ("CD19",), ("LBCL",)),
    ("non-Hodgkin is not Hodgkin",
     dict(title="CD30 CAR T Cells", interventions=[iv("CD30.CAR-T", "CD30-directed CAR T cells")],
          conditions=["Hodgkin Lymphoma", "Non-Hodgkin Lymphoma, T-cell"]),
     "CAR-T", "unknown", ("CD30",), ("HL", "TCL")),
    ("CD7 is not CD70",
     dict(title="CD70 CAR-T in Renal Cell Carcinoma", interventions=[iv("CD70 CAR-T", "")],
          conditions=["Renal Cell Carcinoma"]),
     "CAR-T", "unknown", ("CD70",), ("solid tumour (other)",)),
    ("CAR-NKT before CAR-NK",
     dict(title="GD2-CAR NKT Cells in Neuroblastoma",
          interventions=[iv("GINAKIT2", "NKT cells expressing a GD2-specific chimeric antigen receptor")],
          conditions=["Neuroblastoma"]),
     "CAR-NKT", "unknown", ("GD2",), ("neuroblastoma",)),
    ("off-the-shelf means allogeneic",
     dict(title="Off-the-shelf CD19 CAR-T", interventions=[iv("UCART-X", "gene-edited CD19 CAR T cells")],
          conditions=["Large B-cell Lymphoma"]),
     "CAR-T", "allogeneic", ("CD19",), ("LBCL",)),
    ("vague intervention, construct in title",
     dict(title="Anti-HER2 CAR-T Cells in Sarcoma", interventions=[iv("CAR-T cells", "Single infusion")],
          conditions=["Sarcoma"]),
     "CAR-T", "unknown", ("HER2",), ("sarcoma",)),
    ("keyword antigen without construct context is ignored",
     dict(title="CAR-T Cells in Lymphoma", interventions=[iv("CAR-T cells", "")], keywords=["CD20"],
          conditions=["Mantle Cell Lymphoma"]),
     "CAR-T", "unknown", (), ("MCL",)),
    ("dual target from one tandem construct",
     dict(title="Tandem CAR-T", interventions=[iv("BCMA/GPRC5D CAR-T", "bispecific CAR")],
          conditions=["Multiple Myeloma"]),
     "CAR-T", "unknown", ("BCMA", "GPRC5D"), ("MM",)),
    ("'all' in prose is not ALL",
     dict(title="CD19 CAR-T for all Patients With Lupus", interventions=[iv("CD19 CAR-T")],
          conditions=["Systemic Lupus Erythematosus"]),
     "CAR-T", "unknown", ("CD19",), ("SLE",)),
    ("TCR-T against a cancer-testis antigen",
     dict(title="NY-ESO-1 TCR-T Cells", interventions=[iv("NY-ESO-1 TCR T cells", "TCR-engineered T cells")],
          conditions=["Synovial Sarcoma"]),
     "TCR-T", "unknown", ("NY-ESO-1",), ("sarcoma",)),
    ("no cell therapy at all",
     dict(title="Observational Registry of Lymphoma", interventions=[], conditions=["Lymphoma"]),
     "none", "unknown", (), ()),
]


@pytest.mark.parametrize("case, kwargs, cell_therapy, source, targets, groups", TRICKY, ids=[t[0] for t in TRICKY])
def test_tricky_cases(case, kwargs, cell_therapy, source, targets, groups):
    c = classify(study(**kwargs))
    assert c.cell_therapy == cell_therapy
    assert c.cell_source == source
    assert c.targets == targets
    assert set(c.disease_groups) == set(groups)
    assert c.multi_target == (len(targets) > 1)


@pytest.mark.parametrize("given_name, canonical", [
    ("claudin18.2", "CLDN18.2"), ("Claudin 18.2", "CLDN18.2"), ("bcma", "BCMA"), ("B-cell maturation antigen", "BCMA"),
    ("her2", "HER2"), ("mesothelin", "MSLN"), ("CD19", "CD19"), ("cd-7", "CD7"), ("nope", None)])
def test_canonical_antigen(given_name, canonical):
    assert canonical_antigen(given_name) == canonical


def test_find_antigens_boundaries():
    assert find_antigens("CD190 and CD70") == ["CD70"]
    assert find_antigens("anti-CD19 CAR; CD22 expression measured") == ["CD19"]
    assert find_antigens("CD19 CAR-T", require_context=True) == ["CD19"]
    assert find_antigens("CD19 levels", require_context=True) == []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.lists(st.text(max_size=60), max_size=4))
def test_classifier_never_raises_on_any_text(title, conditions):
    c = classify(study(title=title or "x", interventions=[iv(title, title)], conditions=conditions,
                       keywords=conditions))
    assert c.cell_therapy in ("CAR-T", "CAR-NK", "CAR-NKT", "TCR-T", "other", "none")
    assert c.cell_source in ("autologous", "allogeneic", "unknown")

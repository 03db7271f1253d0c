"""A registered design (the registry's draft, :func:`cartwin.registry.protocol.draft_protocol`)
as a protocol that ``cartwin trial`` runs.

The registry layer reads ClinicalTrials.gov and knows nothing of the simulator; this module maps
its plain draft onto the trial protocol schema (:data:`cartwin.trial.protocol.SCHEMA`): the
indication onto a simulator preset, the product onto the preset product with the same target
and cell source (by name when the record names one), lymphodepletion onto fludarabine and
cyclophosphamide doses, and the parts a registry never states (follow-up, assessment schedule,
covariate model, bridging) onto the shipped presets' choices for the indication. Every choice the
record did not state is listed under ``[assumed]`` with why, the registry draft's own assumptions
included. What cannot be simulated (an indication without a preset, a target no product has) is
a :class:`~cartwin.foundation.errors.ValidationError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cartwin.foundation.errors import ValidationError

#: Assessment schedule and criteria by disease measure (the shipped presets' schedules).
_ASSESSMENT = {
    "spd_cm2": ([28, 91, 182, 273, 365, 547, 730], "lugano"),
    "marrow_blasts_pct": ([28, 56, 91, 182, 273, 365, 547, 730], "all"),
    "m_protein_g_per_dl": ([28, 56, 91, 122, 152, 182, 273, 365, 547, 730], "imwg"),
    "sld_cm": ([42, 84, 126, 168, 252, 365, 547, 730], "recist"),
}
#: A shipped trial of each indication, whose covariate model (baseline characteristics) is used.
_COVARIATES_FROM = {"lbcl": "zuma-1", "fl": "zuma-1", "mcl": "zuma-2", "all": "eliana", "mm": "karmma", "gastric": "ct041"}
_CLASSES = {"autologous_car_t": "autologous_car_t", "allogeneic_car_t": "allogeneic_car_t", "car_nk": "car_nk"}
_PHASES = {"1": "1", "2": "2", "3": "3", "1/2": "1/2", "early 1": "1", "2/3": "2", "4": "3"}


def _phase(label: str, assumed: dict[str, str]) -> str:
    if label in _PHASES:
        if _PHASES[label] != label:
            assumed["trial.phase"] = f"registered phase '{label}'; simulated as phase {_PHASES[label]}"
        return _PHASES[label]
    assumed["trial.phase"] = f"no phase stated ('{label}'); 2 is used"
    return "2"


def _product(draft: Mapping[str, Any], indication: str, assumed: dict[str, str]) -> str:
    from cartwin.model.presets import INDICATIONS, PRODUCTS

    product = draft.get("product", {})
    klass = _CLASSES.get(str(product.get("class", "")))
    antigen = INDICATIONS[indication].antigen
    target = str(product.get("target", "")).upper().replace("CLAUDIN18.2", "CLDN18.2")
    if klass is None:
        raise ValidationError("registry.product.class", "an autologous or allogeneic CAR-T or a CAR-NK product (the simulated classes)",
                              product.get("class"))
    if "+" in target and antigen.upper() in target.split("+"):
        assumed["product.target"] = f"the record's product targets {target}; only {antigen} is modelled"
        target = antigen.upper()
    if target not in ("", "UNKNOWN") and target != antigen.upper():
        raise ValidationError("registry.product.target", f"the indication's antigen {antigen} (indication {indication})", target)
    candidates = [k for k, p in PRODUCTS.items() if p.product_class == klass and p.antigen == antigen]
    if not candidates:
        raise ValidationError("registry.product", f"a {klass} product against {antigen}, which cartwin has a preset for",
                              f"{product.get('name')} ({klass}, {target or 'target unknown'})")
    name = str(product.get("name", "")).lower()
    for key in candidates:
        words = PRODUCTS[key].label.lower().split()
        if key in name or (words and words[0] in name):
            return key
    own = [k for k in candidates if indication in PRODUCTS[k].indications] or candidates
    assumed["product.key"] = (f"the record's product '{product.get('name')}' has no preset; {own[0]} "
                              f"({PRODUCTS[own[0]].label}), a {klass} product against {antigen}, stands in")
    return own[0]


def protocol_dict(draft: Mapping[str, Any]) -> dict[str, Any]:
    """The trial protocol (a nested dict for :func:`cartwin.trial.protocol.protocol_from_dict`)
    of a registry draft; raises :class:`ValidationError` for a design cartwin cannot simulate."""
    from cartwin.model.presets import INDICATIONS

    trial = draft.get("trial", {})
    nct = str(trial.get("source_nct", "the record"))
    assumed: dict[str, str] = {}
    for key, entry in (draft.get("assumed") or {}).items():
        reason = entry.get("reason", "") if isinstance(entry, Mapping) else str(entry)
        value = entry.get("value") if isinstance(entry, Mapping) else None
        assumed[f"registry.{key}"] = f"{reason} (value {value!r})" if value is not None else reason or "not stated"
    indication = str(trial.get("indication", "unknown"))
    if indication.split("/", 1)[0] in INDICATIONS and indication not in INDICATIONS:
        assumed["trial.indication"] = f"registered as {indication}; simulated as {indication.split('/', 1)[0]}"
        indication = indication.split("/", 1)[0]
    if indication not in INDICATIONS:
        raise ValidationError("registry.trial.indication", "a disease with a simulator preset: " + ", ".join(INDICATIONS),
                              indication, hint=f"{nct} cannot be simulated yet")
    measure = INDICATIONS[indication].disease_measure
    product = _product(draft, indication, assumed)

    dose = draft.get("dose", {})
    value, per_kg = float(dose.get("value", 2e6)), bool(dose.get("per_kg", True))
    ld = draft.get("lymphodepletion", {})
    flu, cy = ld.get("fludarabine_mg_per_m2"), ld.get("cyclophosphamide_mg_per_m2")
    regimen = ld.get("regimen", "flu_cy")
    note = ""
    if regimen == "flu_cy":
        if flu is None:
            flu = 30.0
            assumed["lymphodepletion.fludarabine_mg_per_m2"] = "fludarabine named without a dose; 30 mg/m2 daily is used"
        if cy is None:
            cy = 500.0
            assumed["lymphodepletion.cyclophosphamide_mg_per_m2"] = "cyclophosphamide named without a dose; 500 mg/m2 daily is used"
    elif regimen == "cyclophosphamide":
        flu, cy = 0.0, float(cy if cy is not None else 500.0)
        assumed["lymphodepletion.cyclophosphamide_mg_per_m2"] = "cyclophosphamide alone; 500 mg/m2 daily unless stated"
    else:
        flu, cy, note = 0.0, 0.0, f"registered regimen {regimen}, not modelled"
        assumed["lymphodepletion"] = f"{regimen} lymphodepletion is not modelled; none is simulated"
    days, criteria = _ASSESSMENT[measure]
    assumed["assessment.days"] = f"the registry gives no schedule; the shipped {criteria} presets' days are used"
    assumed["trial.follow_up_days"] = "not stated in the registry; two years (the longest simulated follow-up)"
    assumed["population.covariates"] = (f"baseline characteristics of {_COVARIATES_FROM[indication]} "
                                        f"(the shipped {indication} trial) stand in for this trial's")
    assumed["bridging.probability"] = "the registry does not say whether bridging was allowed; none is simulated"
    n = int(trial.get("enrolment", 100)) if str(trial.get("enrolment", "")).isdigit() else 100
    return {
        "trial": {
            "name": str(trial.get("name") or nct), "indication": indication,
            "phase": _phase(str(trial.get("phase", "n/a")), assumed), "n_enrolled": max(n, 1),
            "follow_up_days": 730.0,
            "source": f"ClinicalTrials.gov {nct}" + (f" (last update {trial['source_last_update']})" if trial.get("source_last_update") else ""),
            "description": str(trial.get("title", "")),
        },
        "product": {"key": product, "label": str(draft.get("product", {}).get("name", ""))},
        "dose": {"value": value, "per_kg": per_kg},
        "lymphodepletion": {"fludarabine_mg_per_m2": float(flu), "cyclophosphamide_mg_per_m2": float(cy), "days": 3, "note": note},
        "bridging": {"probability": 0.0, "tumour_reduction_factor": 1.0},
        "assessment": {"days": days, "criteria": criteria},
        "population": {"covariates": _COVARIATES_FROM[indication], "iiv": "stein2019"},
        "assumed": assumed,
    }

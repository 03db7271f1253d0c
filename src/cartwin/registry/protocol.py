"""Registered design -> virtual-trial protocol file (TOML), marking every assumed field.

The trial layer's protocol format is not settled yet, so this module is the one place that
knows it: :func:`draft_protocol` builds a plain nested dict, :func:`to_toml` writes it. The
layout::

    [trial]            name, source_nct, title, indication, disease_groups, target, phase,
                       enrolment, enrolment_type, status, source_last_update
    [product]          class (autologous_car_t | allogeneic_car_t | car_nk | car_nkt | tcr_t |
                       other), name, target, cell_source
    [dose]             value (cells), per_kg (bool), stated (the registry's words)
    [lymphodepletion]  regimen (flu_cy | bendamustine | none_stated...), drug doses in mg/m2
    [assumed]          "section.field" = { value = ..., reason = "..." } for every field that the
                       record did not state and cartwin filled in

Rules for doses (registries state them loosely): one stated dose is taken as is; a range
``a to b x 10^n`` gives the geometric mean; several dose levels give the highest (the usual
expansion dose); each of the last two is listed under ``[assumed]``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from cartwin.registry.classify import classify
from cartwin.registry.schema import Study
from cartwin.registry.store import phase_label

# Simulator indication keys for the disease groups that have a preset; others pass through.
_INDICATION_KEYS = {"LBCL": "lbcl", "FL": "fl", "MCL": "mcl", "ALL": "all", "MM": "mm"}
_CLASS = {"CAR-NK": "car_nk", "CAR-NKT": "car_nkt", "TCR-T": "tcr_t", "other": "other", "none": "other"}

_NUM = r"\d+(?:\.\d+)?"
_EXP = r"\s*(?:x|×|\*)\s*10\s*(?:\^|e|E)?\s*(\d+)"
_DOSE_PHRASE = re.compile(
    rf"((?:{_NUM}(?:{_EXP})?\s*(?:,|to|–|-|or|and|,\s*and|,\s*or)\s*)*{_NUM}{_EXP})", re.IGNORECASE)
_DOSE_TOKEN = re.compile(rf"({_NUM})(?:{_EXP})?", re.IGNORECASE)
_PER_KG = re.compile(r"^[^.;]{0,60}?(?:/\s*kg|per\s+kg|per\s+kilogram)", re.IGNORECASE)
_MG_M2 = r"[^.;]{0,25}?(\d+(?:\.\d+)?)\s*mg\s*/\s*m"


def parse_dose(text: str) -> dict[str, Any] | None:
    """First dose statement in ``text``: ``{"values": [...], "per_kg": bool, "range": bool,
    "stated": str}`` or None. ``"150, 300 or 450 x 10^6 CAR+ T cells"`` gives three values."""
    for match in _DOSE_PHRASE.finditer(text):
        phrase = match.group(1)
        tokens = [(float(m.group(1)), m.group(2)) for m in _DOSE_TOKEN.finditer(phrase)]
        last_exp = next((int(e) for _, e in reversed(tokens) if e), None)
        if last_exp is None or last_exp > 15:
            continue
        values = [mantissa * 10 ** (int(e) if e else last_exp) for mantissa, e in tokens]
        if not values or not all(math.isfinite(v) and v > 0 for v in values):
            continue
        tail = text[match.end():match.end() + 80]
        stated = (phrase + re.split(r"[;,]|\.\s", tail)[0])[:120].strip()
        is_range = len(values) == 2 and re.search(r"\bto\b|–|-", phrase) is not None
        return {"values": values, "per_kg": bool(_PER_KG.match(tail)), "range": is_range, "stated": stated}
    return None


def _drug_dose(text: str, drug: str) -> float | None:
    match = re.search(drug + _MG_M2, text, re.IGNORECASE)
    return float(match.group(1)) if match else None


def draft_protocol(study: Study) -> dict[str, Any]:
    """The protocol for ``study`` as a nested dict, ``assumed`` included (pure)."""
    section = study.protocol_section
    c = classify(study)
    assumed: dict[str, dict[str, Any]] = {}

    def assume(key: str, value: Any, reason: str) -> Any:
        assumed[key] = {"value": value, "reason": reason}
        return value

    ident = section.identification_module
    groups = list(c.disease_groups)
    if not groups:
        indication = assume("trial.indication", "unknown", "no disease group recognised in conditions or titles")
    else:
        indication = _INDICATION_KEYS.get(groups[0], groups[0].lower())
        if len(groups) > 1:
            assume("trial.indication", indication,
                   f"several disease groups ({', '.join(groups)}); the first listed is simulated")
    target = c.target_label or assume("trial.target", "unknown", "no target antigen named in the cell-therapy interventions or titles")
    enrol_info = section.design_module.enrollment_info
    if enrol_info and enrol_info.count:
        enrolment = enrol_info.count
    else:
        enrolment = assume("trial.enrolment", 100, "no enrolment stated; 100 patients is a placeholder cohort size")
    trial = {
        "name": ident.acronym or ident.brief_title or study.nct_id,
        "source_nct": study.nct_id,
        "title": ident.brief_title or "",
        "indication": indication,
        "disease_groups": groups,
        "target": target,
        "phase": _phase(study),
        "enrolment": enrolment,
        "enrolment_type": (enrol_info.type if enrol_info and enrol_info.type else "UNKNOWN"),
        "status": section.status_module.overall_status or "UNKNOWN",
        "source_last_update": study.last_update or "",
    }

    source = c.cell_source
    if c.cell_therapy == "CAR-T":
        if source == "unknown":
            source = assume("product.cell_source", "autologous",
                            "the record does not say; approved CAR-T products are autologous")
        product_class = f"{source}_car_t"
    else:
        product_class = _CLASS[c.cell_therapy]
        if c.cell_therapy == "none":
            assume("product.class", product_class, "no engineered cell therapy recognised in the interventions")
    cell_texts, arm_texts = _cell_texts(study)
    product = {
        "class": product_class,
        "name": c.product or _first_cell_name(study) or assume("product.name", "unnamed", "no intervention name"),
        "target": target,
        "cell_source": source,
    }

    dose = _dose(cell_texts + arm_texts, assume)
    lymphodepletion = _lymphodepletion(study, assume)
    return {"trial": trial, "product": product, "dose": dose, "lymphodepletion": lymphodepletion,
            "assumed": assumed}


def _phase(study: Study) -> str:
    return phase_label(study.protocol_section.design_module.phases)


def _cell_texts(study: Study) -> tuple[list[str], list[str]]:
    from cartwin.registry.classify import _intervention_text, _is_cell_therapy

    module = study.protocol_section.arms_interventions_module
    cell_names = []
    texts = []
    for iv in module.interventions:
        text = _intervention_text(iv)
        if _is_cell_therapy(iv, text):
            texts.append(text)
            cell_names.append(iv.name or "")
    arms = [a.description or "" for a in module.arm_groups
            if any(name.split(": ", 1)[-1] in cell_names for name in a.intervention_names)]
    return texts, arms


def _first_cell_name(study: Study) -> str | None:
    from cartwin.registry.classify import _intervention_text, _is_cell_therapy

    for iv in study.protocol_section.arms_interventions_module.interventions:
        if _is_cell_therapy(iv, _intervention_text(iv)):
            return iv.name
    return None


def _dose(texts: list[str], assume: Any) -> dict[str, Any]:
    for text in texts:
        found = parse_dose(text)
        if found is None:
            continue
        values = found["values"]
        out = {"value": values[0], "per_kg": found["per_kg"], "stated": found["stated"]}
        if found["range"]:
            out["value"] = assume("dose.value", float(f"{math.sqrt(values[0] * values[1]):.3g}"),
                                  f"a range was stated ({found['stated']}); its geometric mean is used")
        elif len(values) > 1:
            out["value"] = assume("dose.value", max(values),
                                  f"several dose levels were stated ({found['stated']}); the highest is used")
        return out
    value = assume("dose.value", 2e6, "no dose stated; 2e6 CAR+ cells/kg (the axi-cel label dose) is used")
    per_kg = assume("dose.per_kg", True, "no dose stated")
    return {"value": value, "per_kg": per_kg, "stated": ""}


def _lymphodepletion(study: Study, assume: Any) -> dict[str, Any]:
    module = study.protocol_section.arms_interventions_module
    texts = [a.description or "" for a in module.arm_groups]
    texts += [f"{iv.name or ''} {iv.description or ''}" for iv in module.interventions]
    text = " ; ".join(texts)
    has_flu = re.search(r"fludarabine", text, re.IGNORECASE) is not None
    has_cy = re.search(r"cyclophosphamide", text, re.IGNORECASE) is not None
    has_benda = re.search(r"bendamustine", text, re.IGNORECASE) is not None
    out: dict[str, Any] = {}
    if has_flu and has_cy:
        out["regimen"] = "flu_cy"
        for drug, key in (("fludarabine", "fludarabine_mg_per_m2"), ("cyclophosphamide", "cyclophosphamide_mg_per_m2")):
            dose = _drug_dose(text, drug)
            if dose is not None:
                out[key] = dose
        if has_benda:
            out["alternatives"] = ["bendamustine"]
    elif has_benda:
        out["regimen"] = "bendamustine"
        dose = _drug_dose(text, "bendamustine")
        if dose is not None:
            out["bendamustine_mg_per_m2"] = dose
    elif has_cy:
        out["regimen"] = "cyclophosphamide"
    else:
        out["regimen"] = assume("lymphodepletion.regimen", "flu_cy",
                                "no lymphodepletion stated; fludarabine 30 + cyclophosphamide 500 mg/m2 x 3 days, the common regimen, is used")
        out["fludarabine_mg_per_m2"] = 30.0
        out["cyclophosphamide_mg_per_m2"] = 500.0
    return out


# --- TOML writing (a tiny writer: the protocol holds only strings, numbers, bools and lists) ----
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(protocol: dict[str, Any], header: str = "") -> str:
    lines = [f"# {line}" for line in header.splitlines()]
    for section, body in protocol.items():
        lines += ["", f"[{section}]"]
        for key, value in body.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def write_protocol(study: Study, path: str | Path) -> Path:
    """Write the drafted protocol for ``study`` to ``path`` (TOML); returns the path."""
    protocol = draft_protocol(study)
    header = (f"Virtual-trial protocol drafted by cartwin from ClinicalTrials.gov {study.nct_id}.\n"
              "Fields under [assumed] were not stated in the registry record; check them before use.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_toml(protocol, header), encoding="utf-8")
    return path


"""Request bodies of the REST API, built from the same constraint tables as the CLI and the library.

A field's bounds and options are read from :data:`cartwin.trial.protocol.SCHEMA` (dose, policy,
follow-up), the product and indication presets, :data:`cartwin.clinic.grading.SCALES` and the
web limits (:class:`cartwin.web.settings.WebSettings`), so a request the schema accepts is one
the library accepts, and a bad one is refused with a 422 naming the field before any work
starts. The library still checks every value again (one validator, DESIGN.md practice 4).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from cartwin.foundation.constraints import Constraint, Interval, OneOf

#: Product classes the explainer and the trial explorer switch between, in plain words.
PRODUCT_CLASSES = {
    "autologous_car_t": "autologous CAR-T (made from the patient's own cells)",
    "allogeneic_car_t": "allogeneic CAR-T (made from a healthy donor's cells)",
    "car_nk": "CAR-NK (natural killer cells from donated cord blood)",
}
COURSES = ("typical", "rough", "poor")


def pydantic_field(constraint: Constraint, default: Any = ..., description: str = "") -> tuple[Any, Any]:
    """(type, FieldInfo) for one constraint: an Interval gives bounds, a OneOf a Literal."""
    if isinstance(constraint, OneOf):
        return Literal[tuple(constraint.options)], Field(default, description=description)  # type: ignore[valid-type]
    if isinstance(constraint, Interval):
        kwargs: dict[str, Any] = {}
        if math.isfinite(constraint.low):
            kwargs["gt" if constraint.low_open else "ge"] = int(constraint.low) if constraint.integer else constraint.low
        if math.isfinite(constraint.high):
            kwargs["lt" if constraint.high_open else "le"] = int(constraint.high) if constraint.integer else constraint.high
        typ = int if constraint.integer else float
        return typ, Field(default, description=description or constraint.describe(), allow_inf_nan=False, **kwargs) \
            if typ is float else Field(default, description=description or constraint.describe(), **kwargs)
    return str, Field(default, description=description, min_length=1)


def _optional(spec: tuple[Any, Any]) -> tuple[Any, Any]:
    typ, info = spec
    return typ | None, info


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def build_models(settings) -> dict[str, type[BaseModel]]:
    """The request models for one server's limits (the bounds come from ``settings``)."""
    from cartwin.clinic.grading import SCALES
    from cartwin.model.presets import INDICATIONS, PRODUCTS
    from cartwin.trial.protocol import SCHEMA, list_protocols

    products = OneOf(tuple(PRODUCTS))
    indications = OneOf(tuple(INDICATIONS))
    policy = SCHEMA["management"]["policy"].constraint
    dose = SCHEMA["dose"]["value"].constraint
    follow = SCHEMA["trial"]["follow_up_days"].constraint
    follow = Interval(follow.low, min(follow.high, settings.max_follow_up_days))

    simulate = create_model(
        "SimulateRequest", __base__=_Strict,
        product=pydantic_field(products, "axi-cel", "product key (GET /api/v1/presets)"),
        indication=pydantic_field(indications, "lbcl", "indication key (GET /api/v1/presets)"),
        dose=(str | None, Field(None, max_length=40, description="CAR-T dose as `cartwin simulate --dose`: '2e6/kg' or '1e8'; default the labelled dose")),
        days=pydantic_field(Interval(1.0, settings.max_simulate_days), 365.0, "follow-up after infusion (days)"),
        seed=pydantic_field(Interval(0, 2**63 - 1, integer=True), 0, "seed of the measurement noise"),
        weight_kg=pydantic_field(Interval(2.0, 400.0), 70.0, "body weight (kg)"),
        height_cm=pydantic_field(Interval(40.0, 250.0), 170.0, "height (cm)"),
        tumour_cells=_optional(pydantic_field(Interval(1.0, 1e14), None, "baseline tumour cells (default: the indication's)")),
        antigen_negative_fraction=_optional(pydantic_field(Interval(0.0, 1.0), None, "share of tumour cells lacking the target")),
        lymphodepletion=(bool, Field(True, description="give the product's fludarabine/cyclophosphamide")),
        policy=pydantic_field(policy, "astct-consensus", "toxicity management policy"),
        age_years=_optional(pydantic_field(Interval(0.0, 130.0), None, "age (years): needed by the lee-2014 policy only")),
    )
    trial = create_model(
        "TrialJobRequest", __base__=_Strict,
        preset=_optional(pydantic_field(OneOf(tuple(list_protocols())), None, "shipped protocol preset (or give protocol_text)")),
        protocol_text=(str | None, Field(None, max_length=settings.max_upload_bytes, description="a protocol file's text (TOML or YAML, docs/protocols.md)")),
        protocol_format=(Literal["toml", "yaml"], Field("toml", description="format of protocol_text")),
        n=_optional(pydantic_field(Interval(1, settings.max_patients, integer=True), None, "patients enrolled (default: the protocol's n_enrolled)")),
        seed=pydantic_field(Interval(0, 2**63 - 1, integer=True), 1, "root seed: the same seed gives the same trial"),
        follow_up_days=_optional(pydantic_field(follow, None, "simulated follow-up (default: the protocol's, at most the server's limit)")),
        product=_optional(pydantic_field(OneOf(tuple(k for k in PRODUCTS)), None, "replace the protocol's product")),
        dose_value=_optional(pydantic_field(dose, None, "replace the protocol's dose (CAR+ cells, per kg if dose_per_kg)")),
        dose_per_kg=(bool | None, Field(None, description="whether dose_value is per kg")),
        policy=_optional(pydantic_field(policy, None, "replace the protocol's management policy")),
    )
    grade_scale = OneOf(tuple(SCALES))
    return {"simulate": simulate, "trial": trial, "scale": grade_scale}


def constraint_rows(constraints: dict[str, Constraint]) -> list[dict[str, str]]:
    return [{"field": k, "expected": c.describe()} for k, c in constraints.items()]

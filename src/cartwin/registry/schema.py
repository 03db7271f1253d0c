"""Validated schema of a ClinicalTrials.gov API v2 study record (the parts cartwin reads).

The v2 data model nests everything under ``protocolSection`` (one module per topic) and
``derivedSection``; field names are camelCase and enumerations are UPPER_SNAKE strings, e.g.
``designModule.phases = ["PHASE1", "PHASE2"]``. Only the fields the registry uses are declared;
everything else is allowed and kept verbatim in the raw record, so nothing the site publishes is
lost when the model here is narrower than the site's.

Dates in v2 are ``YYYY-MM-DD`` or, for some study dates, ``YYYY-MM``; both are accepted and
kept as text, with :func:`date_floor` turning them into a comparable :class:`datetime.date`.
Reference: https://clinicaltrials.gov/data-api/about-api/study-data-structure
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from cartwin.foundation.errors import DataError

NCT_PATTERN = re.compile(r"^NCT\d{8}$")
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")

OVERALL_STATUSES = (
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
    "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
)
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")


class _V2(BaseModel):
    # extra="allow": the site adds fields over time; unknown ones must not reject a record.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow",
                              frozen=True)


class DateStruct(_V2):
    date: str | None = None
    type: str | None = None

    @field_validator("date")
    @classmethod
    def _date_shape(cls, value: str | None) -> str | None:
        if value is not None and date_floor(value) is None:
            raise ValueError(f"a date YYYY-MM-DD or YYYY-MM, got {value!r}")
        return value


class Organization(_V2):
    full_name: str | None = None
    class_: str | None = Field(default=None, alias="class")


class IdentificationModule(_V2):
    nct_id: str
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    organization: Organization | None = None

    @field_validator("nct_id")
    @classmethod
    def _nct_shape(cls, value: str) -> str:
        if not NCT_PATTERN.match(value):
            raise ValueError(f"an NCT ID like NCT01234567, got {value!r}")
        return value


class StatusModule(_V2):
    overall_status: str | None = None
    start_date_struct: DateStruct | None = None
    primary_completion_date_struct: DateStruct | None = None
    completion_date_struct: DateStruct | None = None
    study_first_post_date_struct: DateStruct | None = None
    last_update_post_date_struct: DateStruct | None = None
    last_update_submit_date: str | None = None

    @field_validator("overall_status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and value not in OVERALL_STATUSES:
            raise ValueError(f"one of {', '.join(OVERALL_STATUSES)}, got {value!r}")
        return value


class Sponsor(_V2):
    name: str | None = None
    class_: str | None = Field(default=None, alias="class")


class SponsorCollaboratorsModule(_V2):
    lead_sponsor: Sponsor | None = None
    collaborators: list[Sponsor] = []


class DescriptionModule(_V2):
    brief_summary: str | None = None
    detailed_description: str | None = None


class ConditionsModule(_V2):
    conditions: list[str] = []
    keywords: list[str] = []


class EnrollmentInfo(_V2):
    count: int | None = Field(default=None, ge=0)
    type: str | None = None


class DesignModule(_V2):
    study_type: str | None = None
    phases: list[str] = []
    enrollment_info: EnrollmentInfo | None = None

    @field_validator("phases")
    @classmethod
    def _phases(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if p not in PHASES]
        if bad:
            raise ValueError(f"phases from {', '.join(PHASES)}, got {bad!r}")
        return value


class ArmGroup(_V2):
    label: str | None = None
    type: str | None = None
    description: str | None = None
    intervention_names: list[str] = []


class Intervention(_V2):
    type: str | None = None
    name: str | None = None
    description: str | None = None
    arm_group_labels: list[str] = []
    other_names: list[str] = []


class ArmsInterventionsModule(_V2):
    arm_groups: list[ArmGroup] = []
    interventions: list[Intervention] = []


class Location(_V2):
    facility: str | None = None
    city: str | None = None
    country: str | None = None
    status: str | None = None


class ContactsLocationsModule(_V2):
    locations: list[Location] = []


class ProtocolSection(_V2):
    identification_module: IdentificationModule
    status_module: StatusModule = StatusModule()
    sponsor_collaborators_module: SponsorCollaboratorsModule = SponsorCollaboratorsModule()
    description_module: DescriptionModule = DescriptionModule()
    conditions_module: ConditionsModule = ConditionsModule()
    design_module: DesignModule = DesignModule()
    arms_interventions_module: ArmsInterventionsModule = ArmsInterventionsModule()
    contacts_locations_module: ContactsLocationsModule = ContactsLocationsModule()


class Study(_V2):
    """One v2 study record. ``raw`` is not part of the v2 shape; :func:`parse_study` fills it."""

    protocol_section: ProtocolSection
    derived_section: dict[str, Any] | None = None
    has_results: bool | None = None

    # --- convenient views used by the classifier, the store and the protocol writer ---------
    @property
    def nct_id(self) -> str:
        return self.protocol_section.identification_module.nct_id

    @property
    def last_update(self) -> str | None:
        status = self.protocol_section.status_module
        if status.last_update_post_date_struct and status.last_update_post_date_struct.date:
            return status.last_update_post_date_struct.date
        return status.last_update_submit_date

    @property
    def titles(self) -> list[str]:
        ident = self.protocol_section.identification_module
        return [t for t in (ident.brief_title, ident.official_title, ident.acronym) if t]

    @property
    def countries(self) -> list[str]:
        found = {loc.country for loc in self.protocol_section.contacts_locations_module.locations}
        return sorted(c for c in found if c)


def date_floor(text: str | None) -> _dt.date | None:
    """``'2024-05-17'`` -> that date; ``'2024-05'`` -> 2024-05-01; anything else -> None."""
    if not isinstance(text, str):
        return None
    match = _DATE.match(text.strip())
    if not match:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3] or 1)
    try:
        return _dt.date(year, month, day)
    except ValueError:
        return None


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "<record>"


def parse_study(document: Any, source: str) -> Study:
    """Validate one v2 study record; a bad one raises :class:`DataError` naming file and field.

    The first failing field is named by its v2 path, e.g.
    ``protocolSection.identificationModule.nctId``, so the user can find it in the file.
    """
    if not isinstance(document, dict):
        raise DataError(source, f"field '<record>': expected a JSON object (one study), got {type(document).__name__}")
    if "protocolSection" not in document:
        raise DataError(source, "field 'protocolSection': missing; not a ClinicalTrials.gov v2 study record")
    try:
        return Study.model_validate(document, by_alias=True)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = _field_path(first["loc"])
        shown = repr(first.get("input"))
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message = first["msg"]
        if first["type"] == "missing":
            raise DataError(source, f"field '{field}': missing (required)") from None
        raise DataError(source, f"field '{field}': {message} (got {shown})") from None

"""The bedside-observation table: columns, units, validation and derived findings.

One long-format table, one row per patient per observation time (docs/grading.md). Only
``patient_id`` and a time (``time_day``, or ``datetime``) are required by the table itself; each
scale names the measurements it needs (:mod:`~cartwin.clinic.grading.observed`). A *measured*
column (temperature, blood pressure, oxygen, ICE, consciousness, laboratory values) keeps an
empty cell as missing — *not observed*, never *normal*; an *event* column (vasopressors,
seizure, treatments given, ...) is charted when the event happens, so an empty cell there means
none was charted. Missing-value spellings (:data:`MISSING_SPELLINGS`) read as empty. Columns
cartwin does not know pass through untouched.

Validation is column-wise (vectorised): each bad cell is reported with its row and column, and
either the first one raises :class:`~cartwin.foundation.errors.DataError` or, with
``skip_bad=True``, the rows holding bad cells are dropped and listed in a report table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Constraint, Interval, OneOf
from cartwin.foundation.errors import DataError

O2_SUPPORT = (
    "none",
    "blow_by",
    "low_flow",
    "high_flow",
    "face_mask",
    "non_rebreather",
    "venturi",
    "cpap",
    "bipap",
    "mechanical_ventilation",
)
POSITIVE_PRESSURE = ("cpap", "bipap", "mechanical_ventilation")
CONSCIOUSNESS = ("alert", "awakens_spontaneously", "voice", "tactile", "unarousable")
SEIZURE = ("none", "brief", "prolonged")
CEREBRAL_EDEMA = ("none", "focal", "diffuse")


@dataclass(frozen=True)
class Column:
    """One column of the observation table: kind, accepted values, unit, meaning, default."""

    name: str
    kind: str  # number | integer | bool | category | id | datetime
    constraint: Constraint | None
    unit: str
    description: str
    default: object = None
    #: a measurement (an empty cell is *not observed*) rather than a charted event (empty = none)
    measured: bool = False


def _num(name, low, high, unit, description, integer=False, measured=True):
    return Column(name, "integer" if integer else "number", Interval(low, high, integer=integer), unit, description, np.nan, measured)


def _bool(name, description):
    return Column(name, "bool", None, "", description, False)


def _cat(name, options, description, measured=False):
    return Column(name, "category", OneOf(options), "", description, options[0], measured)


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in [
        Column("patient_id", "id", None, "", "patient identifier (any text or integer); required"),
        _num("time_day", -60.0, 3650.0, "day", "days since CAR-T infusion (day 0 = infusion); required unless `datetime` is given"),
        Column("datetime", "datetime", None, "", "ISO 8601 time stamp; used for `time_day` when that column is absent"),
        Column("infusion_datetime", "datetime", None, "", "ISO 8601 time of infusion; with `datetime`, sets day 0"),
        _num("temperature_c", 25.0, 45.0, "°C", "body temperature"),
        _num("map_mmhg", 0.0, 250.0, "mmHg", "mean arterial pressure"),
        _num("sbp_mmhg", 0.0, 300.0, "mmHg", "systolic blood pressure"),
        Column("hypotension", "bool", None, "", "clinician-judged hypotension (overrides MAP/SBP thresholds where given; use for children)", np.nan, True),
        _num("vasopressors", 0, 10, "count", "number of vasopressors running, excluding vasopressin (an event column: empty = none)", integer=True, measured=False),
        _bool("vasopressin", "vasopressin running"),
        _num("norepinephrine_eq_ug_per_min", 0.0, 1000.0, "µg/min", "total norepinephrine-equivalent dose (Lee 2014 Table 2); decides 'high-dose' for Lee 2014 and Penn", measured=False),
        _cat("o2_support", O2_SUPPORT, "oxygen delivery device / respiratory support", measured=True),
        _num("o2_flow_l_per_min", 0.0, 80.0, "L/min", "oxygen flow"),
        _num("fio2_pct", 21.0, 100.0, "%", "fraction of inspired oxygen, where known (Lee 2014, CTCAE v5.0)"),
        _num("spo2_pct", 0.0, 100.0, "%", "peripheral oxygen saturation"),
        _num("ice_score", 0, 10, "points", "Immune effector Cell-associated Encephalopathy score (adults and children >= 12 y)", integer=True),
        _num("capd_score", 0, 32, "points", "Cornell Assessment of Pediatric Delirium (children < 12 y)", integer=True),
        _num("age_years", 0.0, 120.0, "year", "age; < 12 selects CAPD for ICANS"),
        _cat("consciousness", CONSCIOUSNESS, "level of consciousness not attributable to other causes (e.g. sedation)", measured=True),
        _cat("seizure", SEIZURE, "brief: any clinical seizure resolving rapidly, or nonconvulsive EEG seizure resolving with intervention; prolonged: > 5 min or repetitive without return to baseline"),
        _bool("motor_weakness", "deep focal motor weakness (hemiparesis, paraparesis)"),
        _cat("cerebral_edema", CEREBRAL_EDEMA, "oedema on neuroimaging"),
        _bool("raised_icp_signs", "decerebrate/decorticate posturing, cranial nerve VI palsy, papilloedema or Cushing's triad"),
        _bool("intracranial_hemorrhage", "intracranial haemorrhage (excluded from ICANS; its local oedema is not graded)"),
        _bool("tremor_myoclonus", "tremor or myoclonus (graded by CTCAE, not ICANS; recorded only)"),
        _bool("tocilizumab_given", "tocilizumab given for ongoing CRS (at or before this time)"),
        _bool("steroids_given", "corticosteroids given for ongoing CRS/ICANS (at or before this time)"),
        _bool("antipyretics_given", "antipyretics given (at or before this time)"),
        _num("crp_mg_per_l", 0.0, 1000.0, "mg/L", "C-reactive protein"),
        _num("ferritin_ng_per_ml", 0.0, 1e6, "ng/mL", "ferritin"),
        _num("anc_per_ul", 0.0, 1e6, "cells/µL", "absolute neutrophil count (conventional units: /µL = /mm³)"),
        _num("anc_per_nl", 0.0, 1000.0, "10^9/L", "absolute neutrophil count (SI units: 10^9/L = /nL); give this or anc_per_ul"),
        _num("platelets_per_nl", 0.0, 5000.0, "10^9/L", "platelets (SI units: per nL = 10^9/L = 10^3/µL)"),
        _num("platelets_per_ul", 0.0, 5e6, "/µL", "platelets (conventional units: /µL = /mm³); give this or platelets_per_nl"),
        _num("lymphocytes_per_ul", 0.0, 1e6, "cells/µL", "absolute lymphocyte count (conventional units: /µL = /mm³)"),
        _num("lymphocytes_per_nl", 0.0, 1000.0, "10^9/L", "absolute lymphocyte count (SI units: 10^9/L); give this or lymphocytes_per_ul"),
        _num("hemoglobin_g_per_dl", 0.0, 30.0, "g/dL", "haemoglobin (conventional units)"),
        _num("hemoglobin_g_per_l", 0.0, 300.0, "g/L", "haemoglobin (SI units, g/L); give one haemoglobin column"),
        _num("hemoglobin_mmol_per_l", 0.0, 20.0, "mmol/L", "haemoglobin (SI units, mmol/L); give one haemoglobin column"),
        _num("fibrinogen_mg_per_dl", 0.0, 2000.0, "mg/dL", "fibrinogen (conventional units)"),
        _num("fibrinogen_g_per_l", 0.0, 20.0, "g/L", "fibrinogen (SI units); give this or fibrinogen_mg_per_dl"),
        _num("ldh_u_per_l", 0.0, 1e5, "U/L", "lactate dehydrogenase"),
        _num("creatinine_mg_per_dl", 0.0, 50.0, "mg/dL", "serum creatinine"),
    ]
}

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}

#: Cell texts read as an empty cell (case and surrounding spaces ignored), as spreadsheets and
#: EHR exports write "no value". ``none`` is a value of the categories (room air, no seizure), so
#: there it is read as that value, not as missing.
MISSING_SPELLINGS = ("", "na", "n/a", "n.a.", "#n/a", "nan", "null", "nil", "none", "-", "--", "?", "missing",
                     "not done", "not measured", "unknown")
_MISSING = frozenset(MISSING_SPELLINGS)
_MISSING_CATEGORY = _MISSING - {"none"}
#: A time of day followed by a UTC offset (``Z``, ``+02:00``, ``-0500``) ends an aware time stamp.
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def _describe(col: Column) -> str:
    if col.kind == "bool":
        return "true/false (also yes/no, 1/0)"
    if col.kind == "datetime":
        return "an ISO 8601 date-time"
    text = col.constraint.describe() if col.constraint is not None else "a value"
    return f"{text} {col.unit}".rstrip() if col.unit and col.kind != "category" else text


def _text_and_missing(col: Column, s: pd.Series) -> tuple[pd.Series | None, np.ndarray]:
    """Cell text (lower case, stripped; None for non-text columns) and the missing mask."""
    missing = s.isna().to_numpy()
    if s.dtype != object and not pd.api.types.is_string_dtype(s.dtype):
        return None, missing
    text = s.astype(str).str.strip().str.lower()
    spellings = _MISSING_CATEGORY if col.kind == "category" else _MISSING
    return text, missing | text.isin(spellings).to_numpy()


def _parse_column(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parsed values and a boolean mask of bad cells.

    Missing cells (NaN, empty, a :data:`MISSING_SPELLINGS` text) stay missing in measured
    columns (NaN); in event columns they take the column's default (none charted)."""
    if col.kind == "category" and s.isin(col.constraint.options).all():
        # Already canonical (a simulated cohort's own table): normalising the text would return
        # it unchanged, at ~1 µs a cell.
        return pd.Series(s.to_numpy(dtype=object), index=s.index, dtype=object), np.zeros(len(s), dtype=bool)
    if col.kind in ("number", "integer"):
        if s.dtype.kind in "biuf":
            values = s.astype(float)
            present = values.notna().to_numpy()
        else:
            text, missing = _text_and_missing(col, s)
            present = ~missing
            values = pd.to_numeric(text.where(present) if text is not None else s, errors="coerce").astype(float)
        v = values.to_numpy()
        c = col.constraint
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(v) & (v >= c.low) & (v <= c.high)
            if col.kind == "integer":
                ok &= np.mod(v, 1.0) == 0.0
        bad = present & ~ok
        return values.where(present), bad
    if col.kind == "bool":
        if s.dtype == bool:
            return s, np.zeros(len(s), dtype=bool)
        text, missing = _text_and_missing(col, s)
        if text is None:
            text = s.astype(str).str.strip().str.lower()
        present = ~missing
        is_true = text.isin(_TRUE).to_numpy()
        is_false = text.isin(_FALSE).to_numpy()
        bad = present & ~(is_true | is_false)
        if col.name == "hypotension":  # tri-state: empty means "judge from MAP/SBP"
            out = pd.Series(np.where(present, is_true, np.nan), index=s.index, dtype=object)
            return out, bad
        return pd.Series(is_true & present, index=s.index), bad
    if col.kind == "category":
        text, missing = _text_and_missing(col, s)
        if text is None:
            text = s.astype(str).str.strip().str.lower()
        present = ~missing
        text = text.str.replace(r"[\s-]+", "_", regex=True)
        ok = text.isin(col.constraint.options).to_numpy()
        bad = present & ~ok
        fill = np.nan if col.measured else col.default
        return pd.Series(np.where(present & ok, text, fill), index=s.index, dtype=object), bad
    if col.kind == "datetime":
        return s, np.zeros(len(s), dtype=bool)  # parsed with the other time column (time zones)
    # id: kept as given (text stays text); an empty id is bad
    _, missing = _text_and_missing(col, s)
    return s, missing


def _parse_times(obs: pd.DataFrame, source: str, first_row: int) -> tuple[dict[str, pd.Series], list[pd.DataFrame]]:
    """``datetime`` and ``infusion_datetime`` parsed together: all with a UTC offset (normalised
    to UTC) or all without (local wall-clock times); a mix is refused, naming the column and row
    of one stamp of each kind (subtracting a naive from an aware time has no answer)."""
    names = [c for c in ("datetime", "infusion_datetime") if c in obs.columns]
    parsed: dict[str, pd.Series] = {}
    problems = []
    kinds = {}  # name -> (present mask, aware mask) or a dtype verdict
    for name in names:
        s = obs[name]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            aware = getattr(s.dt, "tz", None) is not None
            kinds[name] = (s.notna().to_numpy(), np.full(len(s), aware))
            continue
        text, missing = _text_and_missing(COLUMNS[name], s)
        if text is None:
            text = s.astype(str).str.strip()
        raw = s.astype(str).str.strip()
        aware = raw.str.contains(_OFFSET, regex=True).to_numpy() & ~missing
        kinds[name] = (~missing, aware)
    present_all = [(n, p, a) for n, (p, a) in kinds.items()]
    any_aware = any((p & a).any() for _, p, a in present_all)
    any_naive = any((p & ~a).any() for _, p, a in present_all)
    if any_aware and any_naive:
        naive_at = next((n, int(np.flatnonzero(p & ~a)[0])) for n, p, a in present_all if (p & ~a).any())
        aware_at = next((n, int(np.flatnonzero(p & a)[0])) for n, p, a in present_all if (p & a).any())
        raise DataError(
            source,
            f"time stamps with and without a UTC offset are mixed (row {aware_at[1] + first_row}, column "
            f"'{aware_at[0]}' has an offset such as +02:00 or Z; this one has none): give every time stamp "
            "an offset, or none",
            row=naive_at[1] + first_row, column=naive_at[0])
    for name in names:
        s = obs[name]
        present, _ = kinds[name]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            values = s.dt.tz_convert("UTC") if getattr(s.dt, "tz", None) is not None else s
        else:
            text = s.astype(str).str.strip().where(present)
            values = pd.to_datetime(text, errors="coerce", utc=any_aware, format="ISO8601") if len(s) else s
        bad = present & values.isna().to_numpy()
        parsed[name] = values.where(present) if len(s) else values
        if bad.any():
            idx = np.flatnonzero(bad)
            problems.append(pd.DataFrame({"row": idx + first_row, "column": name, "value": s.to_numpy()[idx],
                                          "expected": _describe(COLUMNS[name])}))
    return parsed, problems


def validate_observations(
    obs: pd.DataFrame,
    source: str = "observations",
    *,
    skip_bad: bool = False,
    first_row: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check and parse an observation table; return ``(clean, bad)``.

    ``clean`` has every known column parsed (numbers as float, flags as bool, categories as
    lower-case text, empty cells as defaults) and a numeric ``time_day``; unknown columns are
    kept as they are. ``bad`` lists each bad cell: ``row`` (``first_row`` + position; the CLI
    passes 2 so that rows are numbered as in a spreadsheet, header = row 1), ``column``,
    ``value``, ``expected``. Without ``skip_bad`` the first bad cell raises
    :class:`DataError` naming its row and column; with it the rows holding bad cells are
    dropped from ``clean``.
    """
    if not isinstance(obs, pd.DataFrame):
        raise DataError(source, f"expected a pandas DataFrame, got {type(obs).__name__}")
    obs = obs.reset_index(drop=True)
    duplicated = obs.columns[obs.columns.duplicated()]
    if len(duplicated):
        name = str(duplicated[0])
        raise DataError(source, f"the column '{name}' appears twice: which one to grade from is a guess; "
                        "rename or remove one", column=name)
    if "patient_id" not in obs.columns:
        raise DataError(source, "the required column 'patient_id' is missing", column="patient_id")
    if "time_day" not in obs.columns and "datetime" not in obs.columns:
        raise DataError(source, "a time column is required: 'time_day' (days since infusion) or 'datetime'", column="time_day")
    clean = obs.copy()
    problems = []
    times, time_problems = _parse_times(obs, source, first_row)
    problems.extend(time_problems)
    for name, values in times.items():
        clean[name] = values
    for name in obs.columns:
        col = COLUMNS.get(name)
        if col is None or col.kind == "datetime":
            continue
        parsed, bad = _parse_column(col, obs[name])
        clean[name] = parsed
        if bad.any():
            idx = np.flatnonzero(bad)
            problems.append(
                pd.DataFrame(
                    {
                        "row": idx + first_row,
                        "column": name,
                        "value": obs[name].to_numpy()[idx],
                        "expected": "a non-empty value" if col.kind == "id" else _describe(col),
                    }
                )
            )
    # a time stamp stands in for time_day when the latter is absent
    if "time_day" not in obs.columns:
        stamps = clean["datetime"]
        if "infusion_datetime" in obs.columns:
            zero = clean["infusion_datetime"]
        else:
            zero = stamps.groupby(clean["patient_id"]).transform("min")
        clean["time_day"] = (stamps - zero) / pd.Timedelta(days=1)
    flagged = np.zeros(len(clean), dtype=bool)
    for p in problems:
        flagged[p["row"].to_numpy() - first_row] = True
    if "time_day" not in obs.columns and len(clean):
        # a derived time is checked like a typed one (a stamp decades off gave day 8767)
        span = COLUMNS["time_day"].constraint
        derived = clean["time_day"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            out_of_range = np.isfinite(derived) & ((derived < span.low) | (derived > span.high)) & ~flagged
        if out_of_range.any():
            idx = np.flatnonzero(out_of_range)
            problems.append(pd.DataFrame({"row": idx + first_row, "column": "datetime", "value": obs["datetime"].to_numpy()[idx],
                                          "expected": f"a time stamp {span.low:g} to {span.high:g} days from infusion "
                                                      f"(it gives day {derived[idx[0]]:.1f})"}))
            flagged[idx] = True
    missing_time = clean["time_day"].isna().to_numpy() & ~flagged
    if missing_time.any():
        idx = np.flatnonzero(missing_time)
        problems.append(pd.DataFrame({"row": idx + first_row, "column": "time_day", "value": np.nan, "expected": "a time (time_day or datetime) on every row"}))
    # cross-column consistency: oxygen flow without a device is a contradiction
    if "o2_support" in obs.columns and "o2_flow_l_per_min" in obs.columns:
        contradiction = (clean["o2_support"] == "none").to_numpy() & (clean["o2_flow_l_per_min"].fillna(0).to_numpy() > 0) & obs["o2_support"].notna().to_numpy()
        if contradiction.any():
            idx = np.flatnonzero(contradiction)
            problems.append(pd.DataFrame({"row": idx + first_row, "column": "o2_flow_l_per_min", "value": obs["o2_flow_l_per_min"].to_numpy()[idx], "expected": "0 or empty when o2_support is 'none'"}))
    bad = (
        pd.concat(problems, ignore_index=True).sort_values(["row", "column"], kind="stable").reset_index(drop=True)
        if problems
        else pd.DataFrame({"row": pd.Series(dtype=int), "column": pd.Series(dtype=str), "value": pd.Series(dtype=object), "expected": pd.Series(dtype=str)})
    )
    if len(bad) and not skip_bad:
        first = bad.iloc[0]
        raise DataError(source, f"expected {first['expected']}, got {first['value']!r}", row=int(first["row"]), column=str(first["column"]))
    if len(bad):
        clean = clean.drop(index=np.unique(bad["row"].to_numpy() - first_row)).reset_index(drop=True)
    return clean, bad


# ----------------------------------------------------------------------------------------------
# Derived findings shared by the scales (one definition each; the scales differ in how they
# grade them, not in what the bedside shows).


class ArrayColumns:
    """Already-valid columns as NumPy arrays of one length: what the graders read, without a
    DataFrame (the management policy grades the whole batch at every decision point, where
    building a DataFrame would cost more than grading). Bool columns must be bool arrays,
    numeric ones float or int, categories object or str arrays without missing values."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self._arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.columns = tuple(self._arrays)
        self._n = len(next(iter(self._arrays.values()))) if self._arrays else 0

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> pd.Series:
        return pd.Series(self._arrays[name])

    def array(self, name: str) -> np.ndarray:
        return self._arrays[name]


def column(obs: pd.DataFrame | ArrayColumns, name: str) -> np.ndarray:
    """A known column as a numpy array, its default where the column is absent or empty."""
    col = COLUMNS[name]
    n = len(obs)
    if isinstance(obs, ArrayColumns) and name in obs.columns:
        raw = obs.array(name)
        if col.kind == "bool":
            return raw.astype(bool, copy=False)
        if col.kind == "category":
            return raw.astype(object, copy=False)
        return raw.astype(float, copy=False)
    if name not in obs.columns:
        if col.kind == "bool":
            return np.zeros(n, dtype=bool)
        if col.kind == "category":
            return np.full(n, col.default, dtype=object)
        return np.full(n, np.nan)
    s = obs[name]
    if col.kind == "bool":
        if s.dtype == bool:
            return s.to_numpy()
        values = s.to_numpy(dtype=object)
        return np.where(pd.isna(values), False, values).astype(bool)
    if col.kind == "category":
        return s.fillna(col.default).to_numpy(dtype=object)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def fever(obs: pd.DataFrame) -> np.ndarray:
    """Temperature >= 38.0 °C (all four scales use 38.0 °C)."""
    t = column(obs, "temperature_c")
    with np.errstate(invalid="ignore"):
        return t >= 38.0


def treated(obs: pd.DataFrame) -> np.ndarray:
    """Antipyretic or anticytokine therapy given (tocilizumab, steroids, antipyretics)."""
    return column(obs, "tocilizumab_given") | column(obs, "steroids_given") | column(obs, "antipyretics_given")


def hypotension(obs: pd.DataFrame) -> np.ndarray:
    """Hypotension: the ``hypotension`` column where given, else MAP < 65 or SBP < 90 mmHg;
    any vasopressor (or vasopressin) running means hypotension is being treated."""
    with np.errstate(invalid="ignore"):
        measured = (column(obs, "map_mmhg") < 65.0) | (column(obs, "sbp_mmhg") < 90.0)
    if "hypotension" in obs.columns:
        judged = obs["hypotension"].to_numpy(dtype=object)
        given = pd.notna(judged)
        measured = np.where(given, judged == True, measured)  # noqa: E712 - object array
    return measured.astype(bool) | (pressors(obs) > 0) | column(obs, "vasopressin")


def pressors(obs: pd.DataFrame) -> np.ndarray:
    """Number of vasopressors excluding vasopressin (0 where empty)."""
    return np.nan_to_num(column(obs, "vasopressors"), nan=0.0).astype(int)


def high_dose_pressors(obs: pd.DataFrame) -> np.ndarray:
    """'High-dose vasopressors' of Lee 2014 (Table 2), also used by Penn (Porter 2018).

    With a norepinephrine-equivalent dose: >= 20 µg/min, or >= 10 µg/min with vasopressin.
    Without one (*assumption*): two or more vasopressors, or one plus vasopressin.
    """
    ne = column(obs, "norepinephrine_eq_ug_per_min")
    vp = column(obs, "vasopressin")
    n = pressors(obs)
    with np.errstate(invalid="ignore"):
        by_dose = np.where(vp, ne >= 10.0, ne >= 20.0) & (n + vp > 0)
    by_count = (n >= 2) | ((n >= 1) & vp)
    return np.where(np.isfinite(ne), by_dose, by_count)


def o2_device(obs: pd.DataFrame) -> np.ndarray:
    """Oxygen device; with no device column, a flow > 0 means a nasal cannula."""
    device = column(obs, "o2_support")
    if "o2_support" not in obs.columns:
        flow = column(obs, "o2_flow_l_per_min")
        with np.errstate(invalid="ignore"):
            device = np.where(flow > 0, "low_flow", device)
    elif not isinstance(obs, ArrayColumns) and "o2_flow_l_per_min" in obs.columns:
        # no device charted in this row but a flow: a nasal cannula (as without the column)
        unknown = obs["o2_support"].isna().to_numpy()
        if unknown.any():
            flow = column(obs, "o2_flow_l_per_min")
            with np.errstate(invalid="ignore"):
                device = np.where(unknown & (flow > 0), "low_flow", device)
    return device


#: FiO2 assumed where not measured (Lee 2014 and CTCAE v5.0 grade by FiO2 40 %). Nasal
#: cannula: 20 % + 4 % per L/min (the usual bedside rule: 1 L ≈ 24 %, 6 L ≈ 44 %).
#: Other devices: typical delivered FiO2 (*assumptions*; give ``fio2_pct`` to override).
FIO2_ASSUMED_PCT = {
    "none": 21.0,
    "blow_by": 30.0,
    "high_flow": 60.0,
    "face_mask": 50.0,
    "non_rebreather": 80.0,
    "venturi": 40.0,
    "cpap": 50.0,
    "bipap": 50.0,
    "mechanical_ventilation": 50.0,
}


def fio2_pct(obs: pd.DataFrame) -> np.ndarray:
    """FiO2 in %: measured where given, else estimated from the device and flow."""
    device = o2_device(obs)
    flow = np.nan_to_num(column(obs, "o2_flow_l_per_min"), nan=2.0)
    est = np.array([FIO2_ASSUMED_PCT.get(d, 21.0) for d in O2_SUPPORT])
    codes = pd.Categorical(device, categories=O2_SUPPORT).codes
    estimate = np.where(device == "low_flow", np.minimum(20.0 + 4.0 * flow, 60.0), est[np.maximum(codes, 0)])
    measured = column(obs, "fio2_pct")
    return np.where(np.isfinite(measured), measured, estimate)


Domain = tuple[np.ndarray, np.ndarray, tuple[str, ...]]
"""A grading domain: grade per row, rule code per row, rule texts (code 0 = no finding = '')."""


def choose(conditions: list[np.ndarray], grades: list[int], texts: list[str]) -> Domain:
    """First true condition decides grade and rule (each condition written once).

    Equal to ``np.select`` of the grades and of the rule codes, in one pass of ``np.where``
    from the last condition to the first: 2-3x faster, from a handful of rows (a management
    policy grades at every decision point) to millions."""
    conditions = [np.asarray(c) for c in conditions]
    if any(c.dtype != bool for c in conditions):  # as np.select: a condition is a test, not a value
        raise TypeError("grading conditions must be boolean arrays")
    code = np.zeros(np.broadcast_shapes(*(c.shape for c in conditions)), dtype=np.int64)
    for k in range(len(conditions) - 1, -1, -1):
        code = np.where(conditions[k], k + 1, code)
    grade = np.asarray([0, *grades], dtype=np.int64)[code]
    return grade, code, ("", *texts)


def most_severe_codes(domains: list[Domain], none_rule: Domain | str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Grade = the most severe domain; rule = that domain's rule (first domain on ties).

    Rules travel as integer codes into a small vocabulary, so millions of rows cost a few
    integer operations, not millions of strings. Returns ``(grade, code, vocabulary)``.
    """
    grades = np.stack([np.asarray(g, dtype=np.int64) for g, _, _ in domains])
    codes = np.stack([np.asarray(c, dtype=np.int64) for _, c, _ in domains])
    vocab: list[str] = []
    offsets = []
    for _, _, texts in domains:
        offsets.append(len(vocab))
        vocab.extend(texts)
    which = np.argmax(grades, axis=0)
    cols = np.arange(grades.shape[1])
    grade = grades[which, cols]
    chosen = codes[which, cols] + np.asarray(offsets, dtype=np.int64)[which]
    if isinstance(none_rule, str):
        none_rule = (np.zeros(len(grade), dtype=np.int64), np.zeros(len(grade), dtype=np.int64), (none_rule,))
    none_offset = len(vocab)
    vocab.extend(none_rule[2])
    code = np.where(grade > 0, chosen, none_offset + np.asarray(none_rule[1], dtype=np.int64))
    return grade, code, vocab


def texts(code: np.ndarray, vocab: list[str]) -> np.ndarray:
    """Rule texts (object array) from codes."""
    return np.asarray(vocab, dtype=object)[code]


def most_severe(domains: list[Domain], none_rule: Domain | str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`most_severe_codes` with the rules as text."""
    grade, code, vocab = most_severe_codes(domains, none_rule)
    return grade, texts(code, vocab)


#: Extra fields a row may carry beyond the header, when they are all empty (a trailing comma on
#: every row, as many spreadsheet and EHR exports write); a value there is refused.
_SPARE_FIELDS = 8


def read_observations(path, *, skip_bad: bool = False, allow_empty: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV observation table and validate it (:func:`validate_observations`).

    Strict reading (a clinician may act on the grades): every cell is read as text, so
    ``patient_id`` stays exactly as written (``007`` and ``7`` are two patients; surrounding
    spaces are dropped); no index column is inferred (a trailing comma on every row adds an
    empty field, which is dropped; a value beyond the header is refused, as is a row with fewer
    fields than the header); a column name given twice is refused; :data:`MISSING_SPELLINGS`
    read as empty. Rows are numbered as in a spreadsheet (header = row 1, first observation =
    row 2). A file with no observation rows, or whose every row is bad (``skip_bad``), is an
    error unless ``allow_empty``.
    """
    import csv
    from pathlib import Path

    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError(source, "file not found")
    if path.is_dir():
        raise DataError(source, "a directory, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            records = csv.reader(fh)
            header = next(records, None)
            if header is None:
                raise DataError(source, "the file is empty (expected a header row with patient_id and time_day)")
            header = [h.strip() for h in header]
            # one pass over the records counts fields: pandas pads a short row (a cut file) with
            # empty cells and drops the fields beyond the header without a word
            widths = np.fromiter((len(r) for r in records if r), dtype=np.int64)
    except UnicodeDecodeError as exc:
        raise DataError(source, f"not a readable CSV file (not UTF-8 text: {exc.reason})") from None
    except csv.Error as exc:
        raise DataError(source, f"not a readable CSV file ({exc})") from None
    seen: dict[str, int] = {}
    for k, name in enumerate(header):
        if name and name in seen:
            raise DataError(source, f"the column '{name}' appears twice (columns {seen[name] + 1} and {k + 1}): "
                            "which one to grade from is a guess; rename or remove one", column=name)
        seen[name] = k
    n = len(header)
    short = np.flatnonzero(widths < n)
    if short.size:
        raise DataError(source, f"the row has {widths[short[0]]} values, fewer than the header's {n} "
                        "(a cut or malformed row)", row=int(short[0]) + 2)
    placeholder = [name if name else f"\x00unnamed{k}" for k, name in enumerate(header)]
    names = placeholder + [f"\x00spare{k}" for k in range(_SPARE_FIELDS)]
    if not widths.size:
        raw = pd.DataFrame({name: pd.Series(dtype=object) for name in placeholder})
    else:
        try:
            raw = pd.read_csv(path, header=None, skiprows=1, names=names, dtype=str, keep_default_na=False,
                              index_col=False, skipinitialspace=True, encoding="utf-8-sig")
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(source, f"not a readable CSV file ({str(exc).strip()})") from None
    for name in [c for c in raw.columns if c.startswith("\x00")]:
        filled = np.flatnonzero(raw[name].astype(str).str.strip().ne("").to_numpy() & raw[name].notna().to_numpy())
        if filled.size:
            if name.startswith("\x00spare"):
                raise DataError(source, f"the row has more values than the header ({n} columns): "
                                f"{raw[name].iloc[filled[0]]!r} beyond the last column", row=int(filled[0]) + 2)
            k = int(name.removeprefix("\x00unnamed"))
            raise DataError(source, f"column {k + 1} has values but no name in the header", row=int(filled[0]) + 2)
        raw = raw.drop(columns=name)
    if not len(raw) and not allow_empty:
        raise DataError(source, "no observation rows (only a header); nothing to grade")
    if "patient_id" in raw.columns:
        raw["patient_id"] = raw["patient_id"].str.strip()
    clean, bad = validate_observations(raw, source, skip_bad=skip_bad, first_row=2)
    if not len(clean) and len(raw) and not allow_empty:
        raise DataError(source, f"every row has a bad value ({bad['row'].nunique()} row(s) skipped); nothing left to "
                        "grade (allow an empty result with --allow-empty / allow_empty=True)")
    return clean, bad


def unknown_columns(obs: pd.DataFrame) -> list[str]:
    """Columns cartwin does not grade from (kept, but worth a warning: typos pass silently)."""
    return [c for c in obs.columns if c not in COLUMNS]

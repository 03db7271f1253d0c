"""NONMEM-format datasets: read, validate and write patient-level kinetics data.

The format is the one NONMEM, nlmixr2 and Monolix read: one row per event, grouped by ``ID``
and ordered by ``TIME`` within an ID.

=========  ===============================================================================
column     meaning
=========  ===============================================================================
ID         patient identifier (required; rows of one patient are contiguous)
TIME       time since the reference (required; unit declared by the user, converted to days)
DV         observed value (required on observation rows; ``.`` or empty elsewhere)
AMT        dose amount on dosing rows
EVID       0 observation, 1 dose, 2 other (row kept for covariates, ignored by the fit);
           3 and 4 (resets) are refused by name; default 0, or 1 where AMT > 0
MDV        1 = DV missing (the row is not an observation); default 1 for EVID != 0
CMT        compartment: 1-based state number of the model, or a state name
CENS/BLQ   1 = below the limit of quantification (left-censored); CENS -1 (right) refused
LLOQ       the limit (LOQ is accepted too); with CENS=1 and no LLOQ, DV holds the limit
           (nlmixr2's convention)
other      covariates: numbers, constant within an ID (time-varying covariates are refused)
=========  ===============================================================================

Column names are matched without regard to case. ``RATE``, ``ADDL``, ``II`` and ``SS`` are
refused by name where they hold anything but zero. Row numbers in errors are the file's line
numbers, the header being row 1 (as a spreadsheet shows them).

Units are declared, not guessed: ``dv_unit`` (e.g. ``"copies/ug gDNA"``) and ``time_unit``
(``day``, ``hour``, ``week``, ``month`` (30.4375 days), ``minute``); the fit checks ``dv_unit``
against the model's observable.

Example
-------
>>> import io
>>> text = "ID,TIME,DV,AMT,EVID,MDV\\n1,0,.,1e8,1,1\\n1,24,350,.,0,0\\n"
>>> ds = read_nonmem(io.StringIO(text), dv_unit="copies/ug gDNA", time_unit="hour")
>>> ds.observations()["TIME_DAY"].tolist()
[1.0]
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.errors import DataError, ValidationError

#: Days per declared time unit.
TIME_UNITS = {
    "day": 1.0, "days": 1.0, "d": 1.0,
    "hour": 1.0 / 24.0, "hours": 1.0 / 24.0, "h": 1.0 / 24.0, "hr": 1.0 / 24.0,
    "minute": 1.0 / 1440.0, "minutes": 1.0 / 1440.0, "min": 1.0 / 1440.0,
    "week": 7.0, "weeks": 7.0, "wk": 7.0,
    "month": 30.4375, "months": 30.4375,
}
KNOWN = ("ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "CENS", "BLQ", "LLOQ", "LOQ")
REFUSED = {"RATE": "zero-order infusions (RATE)", "ADDL": "additional doses (ADDL)",
           "II": "dosing intervals (II)", "SS": "steady-state doses (SS)"}
EVIDS = {0: "observation", 1: "dose", 2: "other event", 3: "reset", 4: "reset and dose"}
MISSING = {"", ".", "na", "nan", "NA", "NaN"}


def _days_per(time_unit: str) -> float:
    key = str(time_unit).strip().lower()
    if key not in TIME_UNITS:
        raise ValidationError("time_unit", "one of day, hour, minute, week, month", time_unit)
    return TIME_UNITS[key]


@dataclass(frozen=True)
class NonmemDataset:
    """A validated dataset: ``frame`` holds the canonical columns, ``TIME_DAY`` in days.

    Canonical columns: ``ID`` (str), ``TIME`` (as given), ``TIME_DAY``, ``DV``, ``AMT``,
    ``EVID``, ``MDV``, ``CMT`` (str, "" when absent), ``CENS`` (0/1), ``LLOQ`` (NaN when none),
    ``ROW`` (the file's line number) and the covariates.
    """

    frame: pd.DataFrame
    dv_unit: str
    time_unit: str
    covariates: tuple[str, ...]
    source: str

    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.frame["ID"]))

    def observations(self) -> pd.DataFrame:
        """Observation rows (EVID 0, MDV 0), BLQ rows included (``CENS`` 1)."""
        f = self.frame
        return f[(f["EVID"] == 0) & (f["MDV"] == 0)].reset_index(drop=True)

    def doses(self) -> pd.DataFrame:
        f = self.frame
        return f[f["EVID"] == 1].reset_index(drop=True)

    def covariate_table(self) -> pd.DataFrame:
        """One row per patient: ``ID`` and each covariate's (constant) value."""
        return self.frame.groupby("ID", sort=False)[list(self.covariates)].first().reset_index()

    @property
    def blq_fraction(self) -> float:
        obs = self.observations()
        return float((obs["CENS"] == 1).mean()) if len(obs) else 0.0

    def summary(self) -> dict[str, Any]:
        obs = self.observations()
        return {"patients": len(self.ids()), "observations": int(len(obs)),
                "blq_observations": int((obs["CENS"] == 1).sum()), "dose_records": int(len(self.doses())),
                "covariates": list(self.covariates), "dv_unit": self.dv_unit, "time_unit": self.time_unit}


def _number(raw: str, row: int, column: str, source: str, *, required: bool) -> float:
    text = raw.strip()
    if text in MISSING:
        if required:
            raise DataError(source, "expected a number, got an empty value", row=row, column=column)
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise DataError(source, f"expected a number, got {text!r}", row=row, column=column) from None
    if not np.isfinite(value):
        raise DataError(source, f"expected a finite number, got {text!r}", row=row, column=column)
    return value


def read_nonmem(data: str | os.PathLike | io.IOBase | pd.DataFrame, *, dv_unit: str, time_unit: str = "day",
                source: str | None = None) -> NonmemDataset:
    """Read and validate a NONMEM-format CSV (path, open file or DataFrame of strings/numbers).

    Every problem is a :class:`~cartwin.foundation.errors.DataError` naming the source, the row
    (the file's line number) and the column as the file spells it.
    """
    if not isinstance(dv_unit, str) or not dv_unit.strip():
        raise ValidationError("dv_unit", "the unit of DV, e.g. 'copies/ug gDNA' or 'cells/uL'", dv_unit)
    days_per = _days_per(time_unit)
    if isinstance(data, pd.DataFrame):
        raw = data.astype(str)
        source = source or "dataset"
    else:
        source = source or (str(data) if isinstance(data, (str, os.PathLike)) else "dataset")
        try:
            raw = pd.read_csv(data, dtype=str, keep_default_na=False, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise DataError(source, "the file is empty (expected a header row ID,TIME,DV,...)") from None
        except pd.errors.ParserError as exc:
            raise DataError(source, f"not a CSV table ({str(exc).strip().splitlines()[-1]})") from None
    spelled = {str(c).strip().upper(): str(c) for c in raw.columns}
    if len(spelled) != len(raw.columns):
        raise DataError(source, "two columns have the same name (names are matched without regard to case)")
    for need in ("ID", "TIME", "DV"):
        if need not in spelled:
            raise DataError(source, f"missing the required column {need} (columns: {', '.join(map(str, raw.columns))})")
    if "CENS" in spelled and "BLQ" in spelled:
        raise DataError(source, "both CENS and BLQ columns given (use one)")
    col = {k: raw[v].to_numpy() for k, v in spelled.items()}
    name = {k: v for k, v in spelled.items()}
    n = len(raw)
    if n == 0:
        raise DataError(source, "no data rows")
    rows = np.arange(n) + 2
    for key, what in REFUSED.items():
        if key in col:
            for i in range(n):
                v = _number(col[key][i], rows[i], name[key], source, required=False)
                if np.isfinite(v) and v != 0:
                    raise DataError(source, f"{what} are not supported (expand them into dose rows)", row=rows[i], column=name[key])

    ids = []
    for i in range(n):
        text = str(col["ID"][i]).strip()
        if text in MISSING:
            raise DataError(source, "missing ID", row=rows[i], column=name["ID"])
        ids.append(text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text)
    time = np.array([_number(col["TIME"][i], rows[i], name["TIME"], source, required=True) for i in range(n)])
    amt = np.array([_number(col["AMT"][i], rows[i], name["AMT"], source, required=False) for i in range(n)]) \
        if "AMT" in col else np.full(n, np.nan)
    if "EVID" in col:
        evid = np.empty(n, dtype=int)
        for i in range(n):
            v = _number(col["EVID"][i], rows[i], name["EVID"], source, required=True)
            if v not in EVIDS:
                raise DataError(source, f"unknown EVID {col['EVID'][i].strip()!r} (expected 0 observation, 1 dose or 2 other)",
                                row=rows[i], column=name["EVID"])
            if v in (3, 4):
                raise DataError(source, f"EVID {int(v)} ({EVIDS[int(v)]}) is not supported", row=rows[i], column=name["EVID"])
            evid[i] = int(v)
    else:
        evid = np.where(np.nan_to_num(amt) > 0, 1, 0)
    if "MDV" in col:
        mdv = np.empty(n, dtype=int)
        for i in range(n):
            v = _number(col["MDV"][i], rows[i], name["MDV"], source, required=False)
            if np.isnan(v):
                v = 0.0 if evid[i] == 0 else 1.0
            if v not in (0.0, 1.0):
                raise DataError(source, f"expected MDV 0 or 1, got {col['MDV'][i].strip()!r}", row=rows[i], column=name["MDV"])
            mdv[i] = int(v)
    else:
        mdv = (evid != 0).astype(int)
    cens_key = "CENS" if "CENS" in col else ("BLQ" if "BLQ" in col else None)
    cens = np.zeros(n, dtype=int)
    if cens_key:
        for i in range(n):
            v = _number(col[cens_key][i], rows[i], name[cens_key], source, required=False)
            v = 0.0 if np.isnan(v) else v
            if v == -1:
                raise DataError(source, "right-censored observations (-1) are not supported", row=rows[i], column=name[cens_key])
            if v not in (0.0, 1.0):
                raise DataError(source, f"expected 0 or 1, got {col[cens_key][i].strip()!r}", row=rows[i], column=name[cens_key])
            cens[i] = int(v)
    dv = np.full(n, np.nan)
    for i in range(n):
        required = evid[i] == 0 and mdv[i] == 0 and cens[i] == 0
        dv[i] = _number(col["DV"][i], rows[i], name["DV"], source, required=required)
    loq_key = "LLOQ" if "LLOQ" in col else ("LOQ" if "LOQ" in col else None)
    lloq = np.array([_number(col[loq_key][i], rows[i], name[loq_key], source, required=False) for i in range(n)]) \
        if loq_key else np.full(n, np.nan)
    for i in range(n):
        if evid[i] == 1 and not (np.isfinite(amt[i]) and amt[i] >= 0):
            raise DataError(source, "a dose row (EVID 1) needs a non-negative AMT", row=rows[i], column=name.get("AMT", "AMT"))
        if evid[i] == 0 and mdv[i] == 0:
            if cens[i] == 1 and np.isnan(lloq[i]):
                if cens_key == "BLQ" or np.isnan(dv[i]):
                    raise DataError(source, "a BLQ row needs its limit (an LLOQ column)", row=rows[i], column=name[cens_key])
                lloq[i] = dv[i]  # nlmixr2: with CENS=1, DV holds the limit
            if cens[i] == 1 and not lloq[i] > 0:
                raise DataError(source, f"expected a positive LLOQ, got {lloq[i]:g}", row=rows[i], column=name.get(loq_key or cens_key))
            if cens[i] == 0 and not dv[i] > 0:
                raise DataError(source, f"expected a positive DV (BLQ values go in rows with {cens_key or 'CENS'}=1), got {dv[i]:g}",
                                row=rows[i], column=name["DV"])
    # Grouping and time order per ID.
    seen: dict[str, int] = {}
    for i in range(n):
        if ids[i] in seen and ids[i - 1] != ids[i]:
            raise DataError(source, f"ID {ids[i]} appears again after other IDs (rows of one patient must be contiguous)",
                            row=rows[i], column=name["ID"])
        seen.setdefault(ids[i], i)
        if i > 0 and ids[i - 1] == ids[i] and time[i] < time[i - 1]:
            raise DataError(source, f"TIME {time[i]:g} is earlier than the previous row's {time[i - 1]:g} for ID {ids[i]} "
                            "(times must not decrease within an ID)", row=rows[i], column=name["TIME"])
    cmt = np.array([str(c).strip() for c in col["CMT"]]) if "CMT" in col else np.full(n, "", dtype=object)
    cmt = np.array(["" if c in MISSING else (c[:-2] if c.endswith(".0") else c) for c in cmt], dtype=object)
    frame = pd.DataFrame({"ID": ids, "TIME": time, "TIME_DAY": time * days_per, "DV": dv, "AMT": amt, "EVID": evid,
                          "MDV": mdv, "CMT": cmt, "CENS": cens, "LLOQ": lloq, "ROW": rows})
    covariates = []
    for key, spelled_name in spelled.items():
        if key in KNOWN or key in REFUSED:
            continue
        values = np.array([_number(col[key][i], rows[i], spelled_name, source, required=False) for i in range(n)])
        for pid, group in pd.Series(values).groupby(np.array(ids), sort=False):
            finite = group.dropna()
            if finite.empty:
                raise DataError(source, f"covariate {spelled_name} has no value for ID {pid}", row=int(rows[group.index[0]]),
                                column=spelled_name)
            if finite.nunique() > 1:
                j = int(finite.index[(finite != finite.iloc[0]).to_numpy().argmax()])
                raise DataError(source, f"covariate {spelled_name} changes within ID {pid} (time-varying covariates are not supported)",
                                row=int(rows[j]), column=spelled_name)
            values[group.index] = finite.iloc[0]
        frame[spelled_name] = values
        covariates.append(spelled_name)
    if not ((frame["EVID"] == 0) & (frame["MDV"] == 0)).any():
        raise DataError(source, "no observation rows (EVID 0 with MDV 0)")
    return NonmemDataset(frame, dv_unit.strip(), str(time_unit).strip().lower(), tuple(covariates), source)


def write_nonmem(dataset: NonmemDataset | pd.DataFrame, path: str | os.PathLike, *, time_unit: str | None = None) -> Path:
    """Write a dataset (or a canonical frame) as NONMEM CSV; ``read_nonmem`` reads it back equal.

    ``time_unit``: the unit of the TIME column written (default: the dataset's own).
    """
    if isinstance(dataset, NonmemDataset):
        frame, covs, unit = dataset.frame, dataset.covariates, time_unit or dataset.time_unit
    else:
        frame, unit = dataset, time_unit or "day"
        covs = tuple(c for c in frame.columns if c.upper() not in KNOWN + ("TIME_DAY", "ROW"))
    days_per = _days_per(unit)
    out = pd.DataFrame({"ID": frame["ID"].astype(str), "TIME": np.asarray(frame["TIME_DAY"], float) / days_per})
    for c in ("DV", "AMT", "EVID", "MDV", "CMT", "CENS", "LLOQ"):
        out[c] = frame[c] if c in frame else np.nan
    for c in covs:
        out[c] = frame[c]
    out = out.astype(object).where(pd.notna(out), ".")
    for c in ("EVID", "MDV", "CENS"):
        out[c] = [int(v) if v != "." else v for v in out[c]]
    out["CMT"] = [("." if v in ("", ".") else v) for v in out["CMT"]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, float_format="%.17g")
    return path

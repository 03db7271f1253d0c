"""From graded observations to a course: daily worst grade, onset, duration, resolution; and
bedside alerts mirroring the 'symptoms that need quick attention' of CAR-T patient guides
(fever, new confusion or trouble speaking, low blood pressure, breathing difficulty / low oxygen).

Days are whole days since infusion: ``day = floor(time_day)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s


def daily_grades(graded: pd.DataFrame) -> pd.DataFrame:
    """Worst grade per patient per day, with the rule of the observation that set it.

    ``graded``: the output of :func:`~cartwin.clinic.grading.grade_frame`. Returns
    ``patient_id``, ``day``, and per syndrome ``*_grade``, (``*_grade_upper``, ``*_status``,
    ``*_unobserved``,) ``*_rule``; then ``n_observations`` (and ``scale``, ``assumptions``),
    sorted by patient and day. The day's worst grade is bounded by the worst lower and the worst
    upper bound of its rows: ``observed`` if every row was, ``determined`` if the bounds meet,
    else ``lower bound`` or ``not assessable`` (grade empty) — one febrile row without a blood
    pressure does not make the day's CRS a silent 1.
    """
    g = graded.copy()
    g["day"] = np.floor(g["time_day"].to_numpy(dtype=float)).astype(np.int64)
    g["_order"] = np.arange(len(g))
    keys = ["patient_id", "day"]
    out = g.groupby(keys, sort=True).size().rename("n_observations").reset_index()
    for syndrome in ("crs", "icans"):
        col = f"{syndrome}_grade"
        if col not in g.columns:
            continue
        bounded = f"{syndrome}_status" in g.columns
        if pd.to_numeric(g[col], errors="coerce").isna().all() and not (bounded and (g[f"{syndrome}_status"] == "not assessable").any()):
            out[col] = np.nan
            for extra in ("grade_upper", "status", "unobserved"):
                if f"{syndrome}_{extra}" in g.columns:
                    out[f"{syndrome}_{extra}"] = np.nan if extra == "grade_upper" else (g[f"{syndrome}_{extra}"].iloc[0] if len(g) else "")
            out[f"{syndrome}_rule"] = ""
            continue
        # rank by the lower bound (not assessable = 0): the first observation (in time)
        # reaching the day's worst grade names the rule
        g["_lower"] = pd.to_numeric(g[col], errors="coerce").fillna(0).astype(np.int64).to_numpy()
        ranked = g.sort_values(keys + ["_lower", "time_day", "_order"], ascending=[True, True, False, True, True], kind="stable")
        worst = ranked.drop_duplicates(keys, keep="first")[keys + ["_lower", f"{syndrome}_rule"]]
        out = out.merge(worst, on=keys, how="left")
        if not bounded:
            out[col] = out.pop("_lower").astype(np.int64)
            continue
        per = g.groupby(keys, sort=True)
        upper = per[f"{syndrome}_grade_upper"].max().to_numpy(dtype=np.int64)
        status = g[f"{syndrome}_status"]
        all_observed = (status != "observed").groupby([g["patient_id"], g["day"]], sort=True).sum().to_numpy() == 0
        assumed = (status == "assumed normal").groupby([g["patient_id"], g["day"]], sort=True).sum().to_numpy() > 0
        lower = out.pop("_lower").to_numpy(dtype=np.int64)
        upper = np.maximum(upper, lower)
        day_status = np.select([assumed, all_observed, upper == lower, lower > 0],
                               ["assumed normal", "observed", "determined", "lower bound"], "not assessable").astype(object)
        grade = pd.array(lower, dtype="Int64")
        grade[day_status == "not assessable"] = pd.NA
        unobserved = g[f"{syndrome}_unobserved"].astype(str)
        missing = unobserved != ""
        names = pd.Series("", index=pd.MultiIndex.from_frame(out[keys]), dtype=object)
        if missing.any():
            joined = (g.loc[missing, keys].assign(_u=unobserved[missing]).groupby(keys, sort=True)["_u"]
                      .agg(lambda x: ";".join(sorted(set(";".join(x).split(";"))))))
            names.loc[joined.index] = joined.to_numpy()
        rule = out.pop(f"{syndrome}_rule").to_numpy(dtype=object)
        rule = np.where(day_status == "not assessable",
                        "not assessable: " + names.to_numpy().astype(str).astype(object) + " not observed", rule)
        out[col] = grade
        out[f"{syndrome}_grade_upper"] = upper
        out[f"{syndrome}_status"] = day_status
        out[f"{syndrome}_unobserved"] = names.to_numpy()
        out[f"{syndrome}_rule"] = rule
    if "scale" in g.columns:
        out["scale"] = g["scale"].iloc[0] if len(g) else ""
    if "assumptions" in g.columns:
        out["assumptions"] = g["assumptions"].iloc[0] if len(g) else ""
    cols = ["patient_id", "day"]
    for syndrome in ("crs", "icans"):
        cols += [f"{syndrome}_{c}" for c in ("grade", "grade_upper", "status", "unobserved", "rule")]
    cols += ["n_observations", "scale", "assumptions"]
    return out[[c for c in cols if c in out.columns]]


def course_summary(graded: pd.DataFrame, syndrome: str = "crs") -> pd.DataFrame:
    """Per patient: worst grade, onset day (first day with grade >= 1), duration (number of days
    with grade >= 1), resolution day (first graded day at grade 0 after the last day with grade
    >= 1; NaN if still ongoing at the last observation) and the daily worst grades.

    ``graded``: output of :func:`~cartwin.clinic.grading.grade_frame` or :func:`daily_grades`.

    >>> import pandas as pd
    >>> g = pd.DataFrame({"patient_id": [1] * 5, "time_day": [0, 1, 2, 3, 4], "crs_grade": [0, 1, 2, 1, 0]})
    >>> row = course_summary(g).iloc[0]
    >>> int(row.max_grade), float(row.onset_day), int(row.duration_days), float(row.resolution_day)
    (2, 1.0, 3, 4.0)
    """
    if syndrome not in ("crs", "icans"):
        from cartwin.foundation.errors import ValidationError

        raise ValidationError("syndrome", "one of 'crs', 'icans'", syndrome)
    col = f"{syndrome}_grade"
    g = graded if "day" in graded.columns else graded.assign(day=np.floor(graded["time_day"].to_numpy(dtype=float)).astype(np.int64))
    # not assessable grades are empty (NaN): the worst, onset and duration count days known
    # to have the grade; the status says whether the worst grade is known
    g = g.assign(**{col: pd.to_numeric(g[col], errors="coerce").astype(float)})
    daily = g.groupby(["patient_id", "day"], sort=True)[col].max().reset_index()
    positive = daily[daily[col] >= 1]
    per = daily.groupby("patient_id", sort=True)
    out = pd.DataFrame({"max_grade": per[col].max()})
    out["onset_day"] = positive.groupby("patient_id")["day"].min().astype(float)
    out["duration_days"] = positive.groupby("patient_id").size()
    out["duration_days"] = out["duration_days"].fillna(0).astype(np.int64)
    last = positive.groupby("patient_id")["day"].max()
    after = daily.merge(last.rename("last_positive"), on="patient_id")
    resolved = after[(after["day"] > after["last_positive"]) & (after[col] == 0)]
    out["resolution_day"] = resolved.groupby("patient_id")["day"].min().astype(float)
    out["daily_grades"] = _lists_per_patient(daily["patient_id"].to_numpy(), daily[col].to_numpy(dtype=float))
    status_col, upper_col = f"{syndrome}_status", f"{syndrome}_grade_upper"
    if status_col in g.columns and upper_col in g.columns:
        lower = out["max_grade"].fillna(0).to_numpy(dtype=np.int64)
        upper = np.maximum(g.groupby("patient_id", sort=True)[upper_col].max().to_numpy(dtype=float), lower)
        status = g[status_col]
        by = g["patient_id"]
        exact = ((status != "observed").groupby(by, sort=True).sum() == 0).to_numpy()
        assumed = ((status == "assumed normal").groupby(by, sort=True).sum() > 0).to_numpy()
        out["max_grade_upper"] = upper
        out["max_grade_status"] = np.select([assumed, exact, upper == lower, lower > 0],
                                            ["assumed normal", "observed", "determined", "lower bound"], "not assessable")
        out["max_grade"] = np.where(out["max_grade_status"] == "not assessable", np.nan, lower)
    out["syndrome"] = syndrome
    out = out.reset_index()
    if out["max_grade"].notna().all():
        out["max_grade"] = out["max_grade"].astype(np.int64)
    return out


def _lists_per_patient(patient_ids: np.ndarray, grades: np.ndarray) -> list[list]:
    """Each patient's grades as a list (ints, ``pd.NA`` where missing); rows sorted by patient.

    A per-group ``apply`` cost ~0.3 ms a patient, most of a trial batch's toxicity summary.
    """
    if not len(patient_ids):
        return []
    starts = np.flatnonzero(patient_ids[1:] != patient_ids[:-1]) + 1
    return [[pd.NA if v != v else int(v) for v in chunk] for chunk in np.split(grades, starts)]


def _previous(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The last non-missing earlier value within each group (NaN at a group's start)."""
    filled = pd.Series(values).groupby(groups).ffill()
    return filled.groupby(groups).shift(1).to_numpy(dtype=float)


ALERTS = ("fever", "new_confusion", "hypotension", "hypoxia")


def alerts(obs: pd.DataFrame, *, validate: bool = True) -> pd.DataFrame:
    """Bedside alerts with time stamps, one row per new episode of each sign.

    * ``fever`` — temperature >= 38.0 °C (detail says 'first fever' or 'recurrent fever');
    * ``new_confusion`` — ICE score below the patient's previous ICE (or below 10 at the first
      assessment): new confusion or trouble speaking (aphasia lowers ICE naming/writing); for
      children a CAPD rise;
    * ``hypotension`` — MAP < 65 mmHg or SBP < 90 mmHg (or vasopressor started);
    * ``hypoxia`` — any oxygen support or SpO2 < 92 %.

    Fever, hypotension and hypoxia alert when the sign appears (absent at the patient's previous
    observation or at the first one). Returns ``patient_id``, ``time_day``, (``datetime``),
    ``alert``, ``detail``, sorted by patient and time.
    """
    if validate:
        obs, _ = s.validate_observations(obs)
    obs = obs.reset_index(drop=True)
    order = np.lexsort((obs["time_day"].to_numpy(dtype=float), pd.factorize(obs["patient_id"], sort=True)[0]))
    o = obs.iloc[order].reset_index(drop=True)
    pid = o["patient_id"]
    first = ~pid.duplicated().to_numpy()

    def onset(flag: np.ndarray) -> np.ndarray:
        prev = pd.Series(flag).groupby(pid.to_numpy()).shift(1, fill_value=False).to_numpy(dtype=bool)
        return flag & (first | ~prev)

    temp = s.column(o, "temperature_c")
    fev = s.fever(o)
    fever_onset = onset(fev)
    nth = pd.Series(fever_onset.astype(int)).groupby(pid.to_numpy()).cumsum().to_numpy()
    map_ = s.column(o, "map_mmhg")
    sbp = s.column(o, "sbp_mmhg")
    with np.errstate(invalid="ignore"):
        low_bp = (map_ < 65.0) | (sbp < 90.0) | (s.pressors(o) > 0) | s.column(o, "vasopressin")
        spo2 = s.column(o, "spo2_pct")
        low_o2 = (s.o2_device(o) != "none") | (spo2 < 92.0)
    ice = s.column(o, "ice_score")
    prev_ice = _previous(ice, pid.to_numpy())
    capd = s.column(o, "capd_score")
    prev_capd = _previous(capd, pid.to_numpy())
    with np.errstate(invalid="ignore"):
        ice_drop = np.where(np.isfinite(prev_ice), ice < prev_ice, ice < 10)
        capd_rise = np.where(np.isfinite(prev_capd), capd > prev_capd, capd >= 1)
    confusion = ice_drop | capd_rise

    def fmt(label, values, template):
        return pd.Series(values).map(lambda v: label + template.format(v) if np.isfinite(v) else "").to_numpy(dtype=object)

    frames = []
    n = s.pressors(o).astype(float)
    specs = [
        ("fever", fever_onset, [np.where(nth <= 1, "first fever", "recurrent fever"), fmt("", temp, "{:.1f} C")]),
        ("new_confusion", confusion, [np.where(ice_drop, fmt("ICE ", prev_ice, "{:.0f} -> ") + fmt("", ice, "{:.0f}"),
                                               fmt("CAPD ", prev_capd, "{:.0f} -> ") + fmt("", capd, "{:.0f}"))]),
        ("hypotension", onset(low_bp), [fmt("MAP ", map_, "{:.0f} mmHg"), fmt("SBP ", sbp, "{:.0f} mmHg"),
                                        fmt("vasopressors ", np.where(n > 0, n, np.nan), "{:.0f}")]),
        ("hypoxia", onset(low_o2), [np.where(low_o2 & (s.o2_device(o) != "none"), "O2 " + s.o2_device(o).astype(object), ""),
                                    fmt("SpO2 ", spo2, "{:.0f} %")]),
    ]
    for name, mask, detail in specs:
        idx = np.flatnonzero(mask)
        part = pd.DataFrame({"patient_id": pid.to_numpy()[idx], "time_day": o["time_day"].to_numpy(dtype=float)[idx]})
        if "datetime" in o.columns:
            part["datetime"] = o["datetime"].to_numpy()[idx]
        part["alert"] = name
        pieces = [np.asarray(d, dtype=object)[idx] for d in detail]
        part["detail"] = [", ".join(str(x) for x in row if x) for row in zip(*pieces, strict=True)]
        part["_rank"] = ALERTS.index(name)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    out["_p"] = pd.factorize(out["patient_id"], sort=True)[0]
    out = out.sort_values(["_p", "time_day", "_rank"], kind="stable").drop(columns=["_p", "_rank"])
    return out.reset_index(drop=True)

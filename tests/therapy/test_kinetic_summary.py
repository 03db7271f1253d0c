"""kinetic_summary on a hand-made timecourse: values worked out by hand, any row order."""

import numpy as np
import pandas as pd
import pytest

from cartwin.therapy.course import kinetic_summary


def _timecourse() -> pd.DataFrame:
    day = np.array([0.0, 7.0, 14.0, 28.0, 90.0])
    rows = []
    for pid, (conc, cells) in {
        3: ([5.0, 40.0, 20.0, 10.0, 1.0], [0.0, 8.0, 30.0, 4.0, 2.0]),
        1: ([9.0, 2.0, 6.0, 6.0, 3.0], [1.0, 5.0, 5.0, 1.0, 0.5]),
    }.items():
        for i, d in enumerate(day):
            rows.append({"patient_id": pid, "day": d, "status": "success", "transgene_copies_per_ug": conc[i],
                         "car_t_per_ul": cells[i], "il6_pg_per_ml": 10.0 * (i + 1) + pid, "crp_mg_per_l": 1.0 + i,
                         "tumor_cells": 1e9 / (i + 1) + pid, "tumor_antigen_neg_cells": float(i + pid),
                         "b_cells_per_ul": 100.0 - 10 * i})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # shuffled: the function sorts


def test_per_patient_kinetics_match_hand_calculation():
    s = kinetic_summary(_timecourse()).set_index("patient_id")
    assert s.index.tolist() == [1, 3]
    p3, p1 = s.loc[3], s.loc[1]
    # Cmax/Tmax after day 0 (day 0 is the infusion, excluded); first maximum on ties (patient 1: 6 at 14 and 28).
    assert (p3.cmax_copies_per_ug, p3.tmax_day) == (40.0, 7.0)
    assert (p1.cmax_copies_per_ug, p1.tmax_day) == (6.0, 14.0)
    # Trapezoid over days 0-28: 7*(5+40)/2 + 7*(40+20)/2 + 14*(20+10)/2 = 577.5.
    assert p3.auc0_28_day_copies_per_ug == pytest.approx(577.5, rel=1e-15)
    assert (p3.cmax_car_t_per_ul, p3.tmax_car_t_day) == (30.0, 14.0)
    assert p1.tmax_car_t_day == 7.0  # 5 at days 7 and 14: the first
    assert p3.il6_max_pg_per_ml == 53.0 and p3.crp_max_mg_per_l == 5.0
    assert p3.tumor_cells_nadir == pytest.approx(1e9 / 5 + 3) and p3.tumor_cells_end == pytest.approx(1e9 / 5 + 3)
    assert p3.tumor_antigen_neg_cells_end == 7.0
    assert p3.b_cells_per_ul_min == 60.0  # after day 0 only
    assert p3.status == "success"


def test_empty_timecourse_gives_the_columns_and_no_rows():
    empty = kinetic_summary(_timecourse().iloc[:0])
    assert len(empty) == 0 and "cmax_copies_per_ug" in empty.columns

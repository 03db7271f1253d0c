"""Units: the conversions cartwin uses, each with its source.

cartwin keeps units in names (``_per_ul``, ``_pg_per_ml``, ``_day``) and in parameter tables,
not in a unit library: the model's inner loop must stay plain arrays. Conversions that carry
science (blood volume bridges, DNA per cell) live here with their citations.
"""

from __future__ import annotations

import re

from cartwin.foundation.errors import ValidationError

HOURS_PER_DAY = 24.0
MINUTES_PER_DAY = 1440.0

#: Whole-body lymphocyte-equivalent volume (µL) that maps a blood concentration (cells/µL) to
#: whole-body cells. Kimmel et al. 2021 Proc R Soc B 288:20210229 — every Table 1 cell count
#: equals the BioModels BIOMD0000001041 concentration x 5e8 µL (e.g. K_N 500 cells/µL <->
#: 2.5e11 cells). About 2 % of lymphocytes circulate, so this is ~100x the 5 L blood volume.
BODY_LYMPHOID_VOLUME_UL = 5.0e8

#: Diploid human genome mass (pg). Piovesan A et al. BMC Res Notes 2019;12:315 (6.5 pg for the
#: diploid genome; 6.6 pg is the common laboratory figure). 1 µg gDNA ~ 1.5e5 cells.
DIPLOID_GENOME_PG = 6.6
CELLS_PER_UG_GDNA = 1.0e6 / DIPLOID_GENOME_PG

#: Tumour cell density used by Kimmel 2021 (Table 1: 1e9 cells per mL of tumour).
TUMOUR_CELLS_PER_ML = 1.0e9

#: Blood volume of a 70 kg adult (L); Nadler SB et al. Surgery 1962;51:224-232 gives ~5 L.
BLOOD_VOLUME_L_PER_KG = 5.0 / 70.0

_DOSE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(/\s*kg)?\s*$")


def parse_dose(text: str, field: str = "dose") -> tuple[float, bool]:
    """Parse ``"2e6/kg"`` (cells per kg) or ``"1e8"`` (flat cells).

    Returns ``(value, per_kg)``.

    >>> parse_dose("2e6/kg")
    (2000000.0, True)
    >>> parse_dose("1.5e8")
    (150000000.0, False)
    """
    match = _DOSE_RE.match(str(text))
    if not match:
        raise ValidationError(
            field, "a positive number of cells, optionally per kg (e.g. '2e6/kg' or '1e8')", text
        )
    value = float(match.group(1))
    if not value > 0:
        raise ValidationError(field, "a positive number of cells", text)
    return value, match.group(2) is not None


def body_surface_area_m2(weight_kg, height_cm):
    """Mosteller body surface area (m²): sqrt(height_cm * weight_kg / 3600).

    Mosteller RD. N Engl J Med 1987;317:1098.
    """
    import numpy as np

    return np.sqrt(np.asarray(height_cm) * np.asarray(weight_kg) / 3600.0)

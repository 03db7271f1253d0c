"""Single equations of the composite model, evaluated on its right-hand side."""

import numpy as np
import pytest

from cartwin.engine.solvers import namespace
from cartwin.model import CarTPatientModel

MODEL = CarTPatientModel()


def _dendothelial(il6_pg_per_ml: float, toci_ug_per_ml: float) -> float:
    params = MODEL.parameters()
    y = MODEL.initial_state(params.broadcast(1), 1)
    y[MODEL.state_index("il6")] = il6_pg_per_ml
    y[MODEL.state_index("toci_central")] = toci_ug_per_ml * params["toci_V1_l"]
    dy = MODEL.rhs(0.0, tuple(y), namespace(params.broadcast(1)))
    return float(np.asarray(dy[MODEL.state_index("endothelial_activation")]).ravel()[0])


def test_tocilizumab_blocks_endothelial_il6_signalling():
    """Model v2.2: endothelium senses IL-6 through the IL-6 receptor tocilizumab blocks, so the
    serum IL-6 rise on tocilizumab (Nishimoto 2008) does not activate it; at baseline IFN-gamma
    the IL-6 drive is the only one."""
    untreated = _dendothelial(2000.0, 0.0)
    assert untreated > 0.1  # 1/day: a severe-CRS IL-6 level activates the endothelium
    saturating = _dendothelial(2000.0, 100.0)  # ~ the peak after 8 mg/kg
    assert saturating < 0.02 * untreated
    # 1 ug/mL is the blocking EC50: half of the IL-6 drive remains.
    assert _dendothelial(2000.0, 1.0) == pytest.approx(0.5 * untreated, rel=1e-9)

"""Extending cartwin without touching the engine: add a state and a parameter.

Ferritin rises in CRS because activated macrophages secrete it (Teachey DT et al. Cancer Discov
2016;6:664). Here a user adds a serum-ferritin state driven by the model's myeloid activation.
The engine, the solvers and the tables need no change: they read states and parameters from
the model class.

Run: python docs/examples/custom_cytokine_model.py
"""

import numpy as np

from cartwin.engine import SaveAt, StepController, simulate
from cartwin.model import CarTPatientModel, Observable, State
from cartwin.model.base import params_from_rows
from cartwin.therapy.course import Covariates, Regimen, build_course


class WithFerritin(CarTPatientModel):
    name = "cartwin-cart+ferritin"
    states = CarTPatientModel.states + (State("ferritin", "ng/mL", "serum ferritin", initial=500.0),)
    parameter_table = CarTPatientModel.parameter_table + params_from_rows(
        [
            ("ferritin_baseline_ng_per_ml", 500.0, "ng/mL", 1.0, 1e5, "assumption (lymphoma baseline)", "baseline ferritin"),
            ("ferritin_half_life_day", 1.5, "day", 0.1, 30.0, "assumption", "serum ferritin half-life"),
            ("ferritin_fold_max", 20.0, "1", 1.0, 1000.0, "assumption (peaks of 10^4 ng/mL in severe CRS)", "fold rise at full myeloid activation"),
        ]
    )
    observables_spec = CarTPatientModel.observables_spec + (Observable("ferritin_ng_per_ml", "ng/mL", "serum ferritin"),)

    def rhs(self, t, y, p, xp=np):
        base = super().rhs(t, y[:-1], p, xp)
        ferritin = y[-1]
        mac = y[self.state_index("myeloid_activation")]
        k = np.log(2.0) / p.ferritin_half_life_day
        target = p.ferritin_baseline_ng_per_ml * (1.0 + (p.ferritin_fold_max - 1.0) * mac)
        return (*base, k * (target - ferritin))

    def observables(self, t, y, p):
        out = super().observables(t, y[:-1], p)
        out["ferritin_ng_per_ml"] = y[-1]
        return out


def main():
    _, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), Covariates())
    model = WithFerritin()
    params = model.parameters(**{k: v for k, v in params.items()})
    y0 = np.vstack([y0, [[500.0]]])
    sol = simulate(model, params, y0=y0, t0=-5.0, saveat=SaveAt(np.arange(0.0, 29.0)),
                   controller=StepController(rtol=1e-6, atol=1e-6), schedule=schedule)
    ferritin = sol.observables()["ferritin_ng_per_ml"][0]
    print(f"peak ferritin {ferritin.max():.0f} ng/mL on day {int(np.argmax(ferritin))}")
    return ferritin


if __name__ == "__main__":
    main()

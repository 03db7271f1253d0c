"""Stein et al. 2019: tisagenlecleucel cellular kinetics (expansion, then biexponential decline).

Stein AM, Grupp SA, Levine JE, et al. Tisagenlecleucel model-based cellular kinetic analysis of
chimeric antigen receptor-T cells. CPT Pharmacometrics Syst Pharmacol 2019;8(5):285-295.
doi:10.1002/psp4.12388. Typical values from Table 1 (as transcribed in nlmixr2lib,
``Stein_2019_Tisagenlecleucel.R``).

Equations (time in days, E and M in transgene copies/µg genomic DNA)::

    rho = ln(foldx)/T_max,   E(0) = C_max/foldx,   M(0) = 0
    t <  T_max:  dE/dt = rho E
    t >= T_max:  dE/dt = -alpha E,   dM/dt = F_B (alpha - beta) E - beta M
    observed C = E + M = C_max ((1 - F_B) e^{-alpha s} + F_B e^{-beta s}),  s = t - T_max

The switch at ``T_max`` is declared as a breakpoint so engines never step across it.
Published half-lives: ln2/alpha ~ 4.3 d (initial decline), ln2/beta ~ 220 d (terminal).
"""

from __future__ import annotations

import numpy as np

from cartwin.model.base import Model, Observable, State, params_from_rows

_T1 = "Stein 2019 CPT Pharmacometrics Syst Pharmacol 8:285, Table 1 (via nlmixr2lib)"


class Stein2019(Model):
    name = "stein2019"
    version = "1"
    citation = "Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285-295"
    states = (
        State("effector_like", "copies/ug gDNA", "expanding then rapidly declining signal"),
        State("memory_like", "copies/ug gDNA", "slowly declining signal"),
    )
    parameter_table = params_from_rows(
        [
            ("foldx", 3900.0, "1", 1.0, 1e7, _T1, "fold expansion from day 0 to T_max"),
            ("T_max_day", 9.3, "day", 0.5, 60.0, _T1, "time of peak expansion"),
            ("C_max_copies_per_ug", 24000.0, "copies/ug gDNA", 1e-3, 1e8, _T1, "peak transgene level"),
            ("alpha_per_day", 0.16, "1/day", 1e-4, 10.0, _T1, "rapid contraction rate"),
            ("F_B", 0.0079, "1", 0.0, 1.0, _T1, "fraction of peak entering the slow decline"),
            ("beta_per_day", 0.0032, "1/day", 0.0, 1.0, _T1, "terminal decline rate"),
        ]
    )
    observables_spec = (
        Observable("transgene_copies_per_ug", "copies/ug gDNA", "blood transgene level E + M"),
    )

    def initial_state(self, p, n_patients):
        y0 = np.zeros((2, n_patients))
        y0[0] = np.asarray(p.C_max_copies_per_ug) / np.asarray(p.foldx)
        return y0

    def breakpoints(self, p, n_patients):
        return np.broadcast_to(np.asarray(p.T_max_day, dtype=float), (n_patients,))[None, :]

    def rhs(self, t, y, p, xp=np):
        e, m = y[0], y[1]
        rho = xp.log(p.foldx) / p.T_max_day
        expanding = t < p.T_max_day
        de = xp.where(expanding, rho * e, -p.alpha_per_day * e)
        dm = xp.where(expanding, 0.0 * m, p.F_B * (p.alpha_per_day - p.beta_per_day) * e - p.beta_per_day * m)
        return (de, dm)

    def observables(self, t, y, p):
        return {"transgene_copies_per_ug": y[0] + y[1]}

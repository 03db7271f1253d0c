"""Kimmel, Locke & Altrock 2021: CAR-T vs normal T-cell competition after lymphodepletion.

Kimmel GJ, Locke FL, Altrock PM. The roles of T cell competition and stochastic extinction
events in chimeric antigen receptor T cell therapy. Proc R Soc B 2021;288:20210229.
doi:10.1098/rspb.2021.0229. Curated SBML: BioModels BIOMD0000001041.

Equations (time in days, N and C in cells/µL blood, B in mL of tumour)::

    dN/dt = -r_N N ln((N + C)/K_N)
    dC/dt = -r_C(L) C ln((N + C)/K_C),   r_C(L) = rho_C + b (L - K_N)^2 / (a L^2 + (L - K_N)^2)
    dB/dt = r_B B - gamma_B B C / (k_B + C),   L = N + C

Parameter values: BioModels SBML, with r_N = 0.17 and rho_C = 0.0251 from Table 1 of the main
paper as the BioModels curator notes. The paper's Table 1 gives the quartile range of ``a`` as
0.100-0.302, which does not contain the fitted 0.423 (as printed; left as published).

Example
-------
>>> from cartwin.model.library import Kimmel2021
>>> Kimmel2021.parameters().K_C_cells_per_ul
139.0
"""

from __future__ import annotations

import numpy as np

from cartwin.model.base import Model, Observable, State, params_from_rows

_SBML = "Kimmel 2021 Proc R Soc B 288:20210229; BioModels BIOMD0000001041 (SBML)"
_TABLE1 = "Kimmel 2021 Proc R Soc B 288:20210229, Table 1 (main paper)"


class Kimmel2021(Model):
    name = "kimmel2021"
    version = "1"
    citation = "Kimmel GJ, Locke FL, Altrock PM. Proc R Soc B 2021;288:20210229"
    states = (
        State("normal_t", "cells/uL", "normal (non-CAR) T cells in blood", initial=6.0),
        State("car_t", "cells/uL", "CAR-T cells in blood", initial=0.36),
        State("tumour", "mL", "antigen-positive tumour volume", initial=94.86),
    )
    parameter_table = params_from_rows(
        [
            ("r_N_per_day", 0.17, "1/day", 0.0, 5.0, _TABLE1, "normal T-cell growth rate"),
            ("K_N_cells_per_ul", 500.0, "cells/uL", 1.0, 1e4, _SBML, "normal T-cell carrying capacity"),
            ("K_C_cells_per_ul", 139.0, "cells/uL", 1.0, 1e4, _SBML, "CAR-T carrying capacity"),
            ("rho_C_per_day", 0.0251, "1/day", 0.0, 5.0, _TABLE1, "CAR-T baseline growth rate"),
            ("a", 0.423, "1", 1e-6, 100.0, _TABLE1, "shape of the density-dependent CAR-T growth rate"),
            ("b_per_day", 0.525, "1/day", 0.0, 10.0, _TABLE1, "amplitude of the density-dependent CAR-T growth rate"),
            ("r_B_per_day", 0.01, "1/day", 0.0, 2.0, _SBML, "tumour growth rate"),
            ("gamma_B_per_day", 1.15, "1/day", 0.0, 20.0, _TABLE1, "maximal tumour kill rate"),
            ("k_B_cells_per_ul", 4.05, "cells/uL", 1e-6, 1e4, _SBML, "CAR-T half-saturation of killing"),
        ]
    )
    observables_spec = (
        Observable("normal_t_per_ul", "cells/uL", "normal T cells"),
        Observable("car_t_per_ul", "cells/uL", "CAR-T cells in blood"),
        Observable("tumour_ml", "mL", "tumour volume"),
    )

    def rhs(self, t, y, p, xp=np):
        n, c, b = y[0], y[1], y[2]
        total = xp.maximum(n + c, 1e-12)
        dev = total - p.K_N_cells_per_ul
        r_c = p.rho_C_per_day + p.b_per_day * dev * dev / (p.a * total * total + dev * dev)
        dn = -p.r_N_per_day * n * xp.log(total / p.K_N_cells_per_ul)
        dc = -r_c * c * xp.log(total / p.K_C_cells_per_ul)
        db = p.r_B_per_day * b - p.gamma_B_per_day * b * c / (p.k_B_cells_per_ul + c)
        return (dn, dc, db)

    def observables(self, t, y, p):
        return {"normal_t_per_ul": y[0], "car_t_per_ul": y[1], "tumour_ml": y[2]}

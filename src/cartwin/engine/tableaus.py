"""Rosenbrock tableaus: the coefficients of every engine's Rosenbrock methods.

Owns the published coefficients of the Rosenbrock(-Wanner) methods the engines (the NumPy batch
engine in :mod:`cartwin.engine.solvers`, :mod:`cartwin.engine.compiled`,
:mod:`cartwin.engine.cuda_engine`, :mod:`cartwin.engine.jax_engine`) can run, written in the
"C form" of Hairer & Wanner (*Solving ODEs II*, 2nd ed. 1996, eq. IV.7.4'): with
``M = I/(gamma h) - J``,

    M k_i = f(t + c_i h, y + sum_{j<i} a_ij k_j) + sum_{j<i} (C_ij / h) k_j,
    y_new = y + sum_i b_i k_i,      error estimate = sum_i e_i k_i.

The model is taken as autonomous (every cartwin model is; time dependence enters through
breakpoints and doses), so the ``d_i h f_t`` terms vanish. A stage whose argument and time equal
the previous stage's reuses that stage's ``f`` (``new_evaluation``).

* ``shampine4``: Shampine's 4-stage order-4(3) method (Shampine 1982, ACM TOMS 8:93), the
  NumPy engine's default. A-stable, not L-stable; 3 ``f`` evaluations a step.
* ``rodas4``: Hairer & Wanner's RODAS, order 4(3), 6 stages, stiffly accurate and L-stable
  (Hairer & Wanner 1996, sect. VI.4; coefficients of their ``rodas.f``, METH=1).
* ``rodas5p``: Steinebach's Rodas5P, order 5(4), 8 stages, stiffly accurate and L-stable
  (Steinebach G. Construction of Rosenbrock-Wanner method Rodas5P and numerical benchmarks
  within the Julia Differential Equations package. BIT Numer Math 2023;63:27; coefficients as
  tabulated there and in OrdinaryDiffEq.jl).

Dense output (Rodas4, Rodas5P; the ``H`` rows of the same sources): with ``d_r = sum_j H_rj k_j``
and ``theta`` the fraction of the step,

    y(theta) = (1 - theta) y + theta (y_new + (1 - theta) (d_0 + theta (d_1 + theta d_2))),

of order 3 (Rodas4) and 4 (Rodas5P). Shampine's method has none here.

For the two stiffly accurate methods ``y_new`` is the last stage's argument plus ``k_s``
(``b_j = a_sj``, ``b_s = 1``) and the error estimate is ``k_s``. Their order conditions are
checked numerically in tests/engine/test_tableaus.py (stability function against ``exp(z)`` and
observed order on a nonlinear problem).

May import NumPy and :mod:`cartwin.foundation` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RosenbrockTableau:
    """Coefficients of one Rosenbrock method in C form (see the module docstring)."""

    name: str
    gamma: float
    a: np.ndarray  # (s, s), strictly lower
    c_matrix: np.ndarray  # (s, s), strictly lower
    c_time: np.ndarray  # (s,) stage time fractions
    b: np.ndarray  # (s,)
    e: np.ndarray  # (s,)
    order: int  # of y_new
    error_order: int  # of the embedded solution; step factor err**(-1/(error_order + 1))
    reference: str
    dense: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (rows, s): dense output

    @property
    def has_dense_output(self) -> bool:
        return self.dense.shape[0] > 0

    @property
    def stages(self) -> int:
        return self.a.shape[0]

    @property
    def new_evaluation(self) -> np.ndarray:
        """Stage i needs a new ``f`` (its argument or time differs from stage i-1's)."""
        s = self.stages
        new = np.ones(s, dtype=bool)
        for i in range(1, s):
            new[i] = not (np.array_equal(self.a[i], self.a[i - 1]) and self.c_time[i] == self.c_time[i - 1])
        new[0] = False  # stage 1 is f(y), computed with the Jacobian
        return new

    @property
    def evaluations(self) -> int:
        """``f`` evaluations per step, including the one at the step's start."""
        return 1 + int(self.new_evaluation.sum())

    def source(self) -> str:
        """Python source binding the tableau to the names the kernel template reads."""

        def arr(x, dtype="np.float64"):
            return f"np.array({np.asarray(x).tolist()!r}, dtype={dtype})"

        return (
            f"# --- method: {self.name} ({self.reference}) ---\n"
            f"_tab_gamma = {float(self.gamma)!r}\n"
            f"_tab_a = {arr(self.a)}\n"
            f"_tab_c = {arr(self.c_matrix)}\n"
            f"_tab_t = {arr(self.c_time)}\n"
            f"_tab_b = {arr(self.b)}\n"
            f"_tab_e = {arr(self.e)}\n"
            f"_tab_new = {arr(self.new_evaluation, 'np.bool_')}\n"
            f"_tab_h = {arr(self.dense) if self.has_dense_output else f'np.zeros((0, {self.stages}))'}\n"
            f"_tab_exponent = {1.0 / (self.error_order + 1)!r}\n"
        )


def _lower(rows: list[list[float]]) -> np.ndarray:
    s = len(rows)
    out = np.zeros((s, s))
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _stiffly_accurate(name, gamma, a_rows, c_rows, c_time, order, reference, dense) -> RosenbrockTableau:
    a = _lower(a_rows)
    s = a.shape[0]
    b = a[s - 1].copy()
    b[s - 1] = 1.0
    e = np.zeros(s)
    e[s - 1] = 1.0
    return RosenbrockTableau(name, gamma, a, _lower(c_rows), np.asarray(c_time, dtype=float), b, e,
                             order, order - 1, reference, np.asarray(dense, dtype=float))


# Shampine (1982) as tabulated by Kaps & Rentrop 1979 / Press et al., Numerical Recipes ch. 16.6;
# stage 4 reuses stage 3's f.
SHAMPINE4 = RosenbrockTableau(
    "shampine4", 0.5,
    _lower([[], [2.0], [48.0 / 25.0, 6.0 / 25.0], [48.0 / 25.0, 6.0 / 25.0, 0.0]]),
    _lower([[], [-8.0], [372.0 / 25.0, 12.0 / 5.0], [-112.0 / 125.0, -54.0 / 125.0, -2.0 / 5.0]]),
    np.array([0.0, 1.0, 3.0 / 5.0, 3.0 / 5.0]),
    np.array([19.0 / 9.0, 0.5, 25.0 / 108.0, 125.0 / 108.0]),
    np.array([17.0 / 54.0, 7.0 / 36.0, 0.0, 125.0 / 108.0]),
    4, 3, "Shampine 1982 ACM TOMS 8:93",
)

_RODAS4_A5 = [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950]
RODAS4 = _stiffly_accurate(
    "rodas4", 0.25,
    [[], [1.544], [0.9466785280815826, 0.2557011698983284],
     [3.314825187068521, 2.896124015972201, 0.9986419139977817],
     _RODAS4_A5, _RODAS4_A5 + [1.0]],
    [[], [-5.6688], [-2.430093356833875, -0.2063599157091915],
     [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
     [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
     [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054]],
    [0.0, 0.386, 0.21, 0.63, 1.0, 1.0],
    4, "Hairer & Wanner 1996, Solving ODEs II, sect. VI.4 (RODAS)",
    [[10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662, 0.0],
     [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872, 0.0]],
)

_RODAS5P_A6 = [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
               0.030198172008377946]
RODAS5P = _stiffly_accurate(
    "rodas5p", 0.21193756319429014,
    [[], [3.0], [2.849394379747939, 0.45842242204463923],
     [-6.954028509809101, 2.489845061869568, -10.358996098473584],
     [2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641],
     _RODAS5P_A6, _RODAS5P_A6 + [1.0], _RODAS5P_A6 + [1.0, 1.0]],
    [[], [-14.155112264123755], [-17.97296035885952, -2.859693295451294],
     [147.12150275711716, -1.41221402718213, 71.68940251302358],
     [165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306],
     [24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125, -0.6610691825249471],
     [30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783, -19.097331116725623,
      -28.087943162872662],
     [37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047, -40.06618937091002,
      -54.66780262877968, -9.48861652309627]],
    [0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664, 1.0, 1.0, 1.0],
    5, "Steinebach 2023 BIT Numer Math 63:27 (Rodas5P)",
    [[25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204, 0.524948541321073,
      1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
     [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796, 20.176138334709044,
      15.98066361424651, -6.789040303419874, -6.710236069923372],
     [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643, -52.072871366152654,
      -59.78993625266729, -0.15582684282751913, 4.883087185713722]],
)

METHODS: dict[str, RosenbrockTableau] = {t.name: t for t in (SHAMPINE4, RODAS4, RODAS5P)}

#: Local stage arrays in the kernels are sized for the largest method.
MAX_STAGES = max(t.stages for t in METHODS.values())
#: Rows of dense-output coefficients kept per patient.
MAX_DENSE_ROWS = max(t.dense.shape[0] for t in METHODS.values())


def tableau(name: str) -> RosenbrockTableau:
    """The tableau called ``name`` (one of :data:`METHODS`); a clear error otherwise."""
    if name not in METHODS:
        from cartwin.foundation.errors import ValidationError

        raise ValidationError("method", "one of " + ", ".join(METHODS), name)
    return METHODS[name]

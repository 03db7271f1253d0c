"""The CUDA engine (generated from the CPU kernel's sources) on numba's CUDA simulator.

There is no GPU on the development machine or in CI: the kernels run on numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, pure Python) in a subprocess, so that the simulator setting does not
leak into the other tests, and are compared with :class:`NumbaRosenbrock`, whose step (and dense
output through soft stops) they share.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")
pytest.importorskip("numba.cuda")

from cartwin.engine.cuda_engine import (  # noqa: E402
    KERNEL_REWRITES,
    XP_REWRITES,
    _rewrite,
    cuda_kernel_source,
    cuda_xp_source,
)
from cartwin.foundation.errors import CartwinError  # noqa: E402

_SIM_SCRIPT = r"""
import json, sys
import numpy as np
from cartwin.engine import SaveAt, StepController, simulate
from cartwin.engine.bench import cohort
from cartwin.engine.compiled import NumbaRosenbrock
from cartwin.engine.cuda_engine import CudaRosenbrock, run_on_device, simulator
from cartwin.engine.events import DecisionPoints
from cartwin.model.library import Stein2019
from cartwin.therapy.course import DEFAULT_ATOL

assert simulator()
out = {}
model, params, y0, schedule = cohort(2)
controller = StepController(rtol=1e-6, atol=DEFAULT_ATOL)
t_end = -3.5
runs = {}
for name, solver in (("cuda", CudaRosenbrock()), ("numba", NumbaRosenbrock())):
    runs[name] = simulate(model, params, y0=y0, t0=-5.0, solver=solver, saveat=SaveAt([-4.0, t_end]),
                          controller=controller, schedule=schedule,
                          decisions=DecisionPoints(every_days=1.0, start_day=-5.0))
# The generated rhs (parameter expressions hoisted; records with derived fields) on both.
generated = [simulate(model, params, y0=y0, t0=-5.0, solver=solver, saveat=SaveAt([-4.5]), controller=controller,
                      schedule=schedule, decisions=DecisionPoints(every_days=1.0, start_day=-5.0))
             for solver in (CudaRosenbrock(rhs="generated"), NumbaRosenbrock(rhs="generated"))]
out["generated_steps"] = [g.steps.tolist() for g in generated]
out["generated_rel"] = float(np.max(np.abs(generated[0].ys - generated[1].ys) / np.maximum(np.abs(generated[1].ys), 1e-300)))
c, n = runs["cuda"], runs["numba"]
out["course_steps"] = [c.steps.tolist(), n.steps.tolist()]
out["course_status"] = [c.status.tolist(), n.status.tolist()]
out["course_rel"] = float(np.max(np.abs(c.ys - n.ys) / np.maximum(np.abs(n.ys), 1e-300)))

# Whole course in one launch (state on the device) against simulate() on the CPU engine.
doses = {}
for d in schedule.doses:
    doses.setdefault(float(d.time_day), []).append(
        (model.state_index(d.state), np.broadcast_to(np.asarray(d.amount, float), (2,)).copy()))
decision_days = np.arange(-5.0, t_end + 1e-9, 1.0)
bounds = np.unique(np.concatenate([decision_days, [d for d in doses if d <= t_end], [t_end]]))
dev = run_on_device(model, params, y0, t0=-5.0, t_end=t_end, boundaries=bounds, doses=doses,
                    decision_days=decision_days, rtol=1e-6, atol=controller.atol_vector(model.state_names()),
                    summary_state="car_effector")
out["device_steps"] = dev["steps"].tolist()
out["device_status"] = dev["status"].tolist()
out["device_rel"] = float(np.max(np.abs(dev["y"].T - n.ys[:, -1, :]) / np.maximum(np.abs(n.ys[:, -1, :]), 1e-300)))

# A model with breakpoints (dosing-schedule discontinuities in rhs).
model = Stein2019()
p = model.parameters()
save = SaveAt([0.0, 2.5, 5.0, 7.5, 9.3, 14.0, 20.0, 28.0])  # saves between breakpoints: soft stops
ctl = StepController(rtol=1e-8, atol=1e-12)
s_c = simulate(model, p, n_patients=2, solver=CudaRosenbrock(), saveat=save, controller=ctl)
s_n = simulate(model, p, n_patients=2, solver=NumbaRosenbrock(), saveat=save, controller=ctl)
out["bp_has_breakpoints"] = model.breakpoints(p.broadcast(2), 2) is not None
out["bp_steps"] = [s_c.steps.tolist(), s_n.steps.tolist()]
out["bp_rel"] = float(np.max(np.abs(s_c.ys - s_n.ys) / np.maximum(np.abs(s_n.ys), 1e-300)))
# Without dense output every segment ends on its stop (more steps), on both targets.
out["hard_steps"] = [simulate(model, p, n_patients=2, solver=solver, saveat=save, controller=ctl).steps.tolist()
                     for solver in (CudaRosenbrock(dense_output=False), NumbaRosenbrock(dense_output=False))]

print("RESULT " + json.dumps(out))
"""


def test_generated_cuda_source_is_complete_python():
    from cartwin.engine.bench import cohort
    from cartwin.engine.compiled import NumbaRosenbrock

    model, params, _, _ = cohort(1)
    arrays, _, generated = NumbaRosenbrock().structure(model, params)
    text = cuda_kernel_source(generated, len(model.states), int(arrays[4][14].shape[0]), int(arrays[3].shape[0]))
    compile(text, "<cuda kernel>", "exec")
    device_code = text[text.find("@cuda.jit"):]
    for cpu_only in ("np.empty", "np.inf", "njit", "prange"):
        assert cpu_only not in device_code
    assert f"cuda.local.array({len(model.states)}, numba.float64)" in text
    for name in ("def advance_patients", "def advance_kernel", "def course_kernel", "def jacobian_values",
                 "def lu_factor_gen", "def lu_solve_gen"):
        assert name in text
    compile(cuda_xp_source(), "<cuda xp>", "exec")
    # With the generated rhs the module compiles that (and its records carry derived fields).
    arrays, _, generated = NumbaRosenbrock(rhs="generated").structure(model, params)
    text = cuda_kernel_source(generated, len(model.states), int(arrays[4][14].shape[0]), int(arrays[3].shape[0]))
    compile(text, "<cuda kernel>", "exec")
    assert "def rhs_generated(" in text and "_rhs = cuda.jit(device=True)(globals()['rhs_generated']" in text


def test_template_drift_is_reported():
    with pytest.raises(CartwinError, match="no longer contains"):
        _rewrite("def advance_patients(): pass\n", KERNEL_REWRITES, "_kernel_src", {"N": 1, "NV": 1, "NJ": 1})
    with pytest.raises(CartwinError, match="no longer contains"):
        _rewrite("", XP_REWRITES, "_numba_xp")


def test_simulator_takes_the_numba_engines_steps():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", _SIM_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    # Through simulate(): same steps, same states to round-off.
    assert out["course_steps"][0] == out["course_steps"][1]
    assert out["course_status"] == [[0, 0], [0, 0]]
    assert out["course_rel"] < 1e-7
    assert out["generated_steps"][0] == out["generated_steps"][1] and min(out["generated_steps"][0]) > 0
    assert out["generated_rel"] < 1e-7
    # One launch for the whole course: the same.
    assert out["device_steps"] == out["course_steps"][1]
    assert out["device_status"] == [0, 0]
    assert out["device_rel"] < 1e-7
    # Breakpoints.
    assert out["bp_has_breakpoints"]
    assert out["bp_steps"][0] == out["bp_steps"][1]
    assert out["bp_rel"] < 1e-7
    hard_cuda, hard_numba = out["hard_steps"]
    assert hard_cuda == hard_numba and sum(out["bp_steps"][1]) < sum(hard_numba)
    assert np.isfinite(out["bp_rel"])

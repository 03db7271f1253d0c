"""Compile the CUDA engine's kernels to PTX (and, with ptxas, to sm_90 code) without a GPU.

The CUDA simulator runs the kernels as Python and so does not show whether numba's CUDA target
can type and lower them; this does, on any machine:

    pip install --target /tmp/nctk --no-deps numba-cuda==0.30.4 "cuda-bindings>=12.9.1,<13" \
        "cuda-core>=0.5.1,<2" "cuda-pathfinder>=1.4,<2" "nvidia-cuda-nvrtc-cu12==12.9.*"
    pip install --target /tmp/cudatk --no-deps nvidia-cuda-nvcc-cu12==12.9.86   # NVVM, libdevice, ptxas
    LD_LIBRARY_PATH=/tmp/nctk/nvidia/cuda_nvrtc/lib CUDA_HOME=/tmp/cudatk/nvidia/cuda_nvcc \
        PYTHONPATH=src .venv/bin/python benchmarks/cuda_compile_check.py --site /tmp/nctk \
        --ptxas /tmp/cudatk/nvidia/cuda_nvcc/bin/ptxas

(numba's built-in, deprecated ``numba.cuda`` of numba 0.68 fails to type ``min``/``max`` of two
floats in device functions; NVIDIA's ``numba-cuda`` works.) Prints compile times, PTX sizes and,
with ``--ptxas``, registers and stack per thread (the occupancy limit).
"""

from __future__ import annotations

import argparse
import re
import site
import subprocess
import tempfile
import time
import types
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", default=None, help="folder with numba-cuda installed by pip --target")
    ap.add_argument("--cc", default="9.0", help="compute capability (9.0: H100/H200)")
    ap.add_argument("--ptxas", default=None, help="ptxas to assemble the PTX for register/stack use")
    ap.add_argument("--loop-lu", action="store_true",
                    help="the LU as loops over index arrays bound as module constants (models too large to unroll)")
    ap.add_argument("--rhs", default="model", choices=("model", "generated"),
                    help="the model's rhs as written, or the generated one with parameter expressions hoisted")
    args = ap.parse_args()
    if args.site:
        site.addsitedir(args.site)  # runs numba-cuda's redirector: numba.cuda is NVIDIA's
    import numba
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    cc = tuple(int(x) for x in args.cc.split("."))
    # Device functions ask the current device for its compute capability; there is none here.
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)

    from cartwin.engine import _codegen
    from cartwin.engine.bench import cohort
    from cartwin.engine.compiled import parameter_records
    from cartwin.engine.cuda_engine import CudaRosenbrock

    if args.loop_lu:
        _codegen.MAX_UNROLLED_UPDATES = -1
    model, params, _, _ = cohort(2)
    solver = CudaRosenbrock(rhs=args.rhs)
    module, _, _ = solver.generated_module(model, params)  # no device arrays: no GPU here
    f64, i64, b1 = numba.float64, numba.int64, numba.boolean

    def arr(dtype, ndim=1):
        return numba.types.Array(dtype, ndim, "C")

    rec = numba.typeof(parameter_records(params, 2, solver._cpu_twin().derived_parameters(model, params)))
    structure = (arr(i64), arr(i64), arr(i64), arr(i64), numba.types.UniTuple(arr(i64), 16))
    common = (rec, arr(f64, 2), arr(f64), arr(b1), f64, f64, i64, f64, *structure, b1, f64, b1)
    # The step kept through soft stops: t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense rows.
    carry = (arr(f64), arr(f64, 2), arr(f64), arr(f64), arr(f64, 2), arr(f64, 2), arr(f64, 3))
    signatures = {
        "advance_kernel": (arr(f64, 2), f64, f64, arr(f64), arr(numba.int8), arr(i64), arr(i64), *common, b1,
                           *carry),
        "course_kernel": (arr(f64, 2), arr(f64), arr(numba.int8), arr(i64), arr(i64), *common, arr(f64), arr(b1),
                          arr(i64), arr(i64), arr(f64, 2), arr(f64), i64, arr(f64), arr(f64), arr(b1), *carry),
    }
    print("numba.cuda:", cuda.__file__)
    for name, sig in signatures.items():
        t = time.perf_counter()
        ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, sig, cc=cc)
        print(f"{name}: PTX for sm_{cc[0]}{cc[1]} in {time.perf_counter() - t:.1f} s ({len(ptx):,} characters)", flush=True)
        if args.ptxas:
            path = Path(tempfile.mkdtemp()) / f"{name}.ptx"
            # The PTX ISA version NVVM writes may be newer than a pip ptxas knows; the code is not.
            path.write_text(re.sub(r"^\.version \d+\.\d+", ".version 8.8", ptx, count=1, flags=re.M))
            res = subprocess.run([args.ptxas, f"-arch=sm_{cc[0]}{cc[1]}", "-v", "-O3", str(path), "-o",
                                  str(path.with_suffix(".cubin"))], capture_output=True, text=True)
            for line in res.stderr.splitlines():
                if "registers" in line or "stack frame" in line:
                    print("   ", line.strip())


if __name__ == "__main__":
    main()

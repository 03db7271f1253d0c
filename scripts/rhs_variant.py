"""Helper of the exploration scripts: the composite model with one line of its ``rhs`` changed.

Exploration, not model code. The new ``rhs`` is written to a file (numba compiles and caches
functions from files) and installed on ``CarTPatientModel`` in this process only; a process
keeps one generated kernel per model class, so each variant runs in a process of its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import textwrap
from pathlib import Path


def replace_rhs_line(old: str, new: str, directory: Path, stem: str) -> None:
    """Give ``CarTPatientModel`` an ``rhs`` with the line ``old`` replaced by ``new``."""
    import cartwin.model.cart as cart

    source = textwrap.dedent(inspect.getsource(cart.CarTPatientModel.rhs))
    if old not in source:
        raise SystemExit(f"the model's rhs changed; expected the line {old!r}")
    path = directory / f"{stem}.py"
    path.write_text("import numpy as np\nfrom cartwin.model.cart import BODY_LYMPHOID_VOLUME_UL, LN2\n\n"
                    + source.replace(old, new))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cart.CarTPatientModel.rhs = module.rhs

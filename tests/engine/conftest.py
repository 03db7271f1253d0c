"""Shared check of a fast engine's course against the scipy reference."""

import numpy as np
import pytest

from cartwin.model.base import Model, State, params_from_rows

CHECK_DAYS = [7, 14, 28, 90, 365]
# Below these levels a quantity is numerically absent (far under any assay's limit of
# quantification: tocilizumab ~0.1 ug/mL, dexamethasone ~0.1 ng/mL); relative error is
# checked above them, and below them both engines must agree the quantity is negligible.
# Myeloid, endothelial and neurovascular activation below 1e-6 (fractions; ICANS grade 1 starts at
# 0.5) have no effect: since model v2's 5 pg/mL IFN-gamma threshold they rest at exactly 0 in
# one engine and at round-off in another.
NEGLIGIBLE = {"dexamethasone_ng_per_ml": 1e-6, "tocilizumab_ug_per_ml": 1e-6, "tumor_cells": 1e-3,
              "tumor_antigen_neg_cells": 1e-3, "myeloid_activation": 1e-6,
              "icans_driver": 1e-6, "capillary_leak_driver": 1e-6}


def _assert_matches_reference(ref, fast, rel_tol=1e-4, days=CHECK_DAYS):
    assert (ref.solution.ok & fast.solution.ok).all()
    a = ref.timecourse().set_index(["patient_id", "day"])
    b = fast.timecourse().set_index(["patient_id", "day"])
    for column in a.columns.drop("status"):
        x = a[column].unstack().loc[:, days].to_numpy()
        y = b[column].unstack().loc[:, days].to_numpy()
        floor = NEGLIGIBLE.get(column, 0.0)
        present = np.abs(x) > floor
        rel = np.abs(x - y)[present] / np.abs(x)[present]
        assert rel.size == 0 or rel.max() <= rel_tol, (column, rel.max())
        assert np.all(np.abs(y[~present]) <= 10 * floor), column


@pytest.fixture
def matches_reference():
    """``matches_reference(ref_course, fast_course)``: every observable within 1e-4 at CHECK_DAYS."""
    return _assert_matches_reference


class _Branches(Model):
    """A model whose rhs branches on a state: SymPy cannot trace it, the engines fall back."""

    name = "branches"
    states = (State("x", "1", "x", initial=1.0),)
    parameter_table = params_from_rows([("k", 1.0, "1/day", 0.0, 10.0, "test", "rate")])

    def rhs(self, t, y, p, xp=np):
        rate = p.k if y[0] > 0.5 else 2.0 * p.k
        return (-rate * y[0],)


@pytest.fixture
def branching_model():
    """x' = -k x above x = 0.5, -2k x below (an rhs that branches on a state)."""
    return _Branches()

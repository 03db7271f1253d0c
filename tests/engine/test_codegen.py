"""Generated code (cartwin.engine._codegen): the rhs with hoisted parameter expressions."""

import ast

import numpy as np
import pytest

pytest.importorskip("sympy")

from cartwin.engine._codegen import (  # noqa: E402
    DERIVED_FUNCTION,
    DERIVED_NAMES,
    HOISTED_RHS,
    derived_prefix,
    hoisted_source,
)
from cartwin.engine._sparsity import jacobian_pattern  # noqa: E402
from cartwin.engine.compiled import parameter_records  # noqa: E402
from cartwin.foundation.errors import ValidationError  # noqa: E402
from cartwin.model.base import Model, State, params_from_rows  # noqa: E402
from cartwin.model.cart import CarTPatientModel  # noqa: E402
from cartwin.model.library import Kimmel2021, Stein2019  # noqa: E402

MODELS = [CarTPatientModel, Kimmel2021, Stein2019]


def _generated(model_cls, with_jacobian=False):
    model = model_cls()
    params = model.parameters()
    pattern = jacobian_pattern(model, params) if with_jacobian else None
    text = hoisted_source(model_cls, pattern)
    assert text is not None
    namespace: dict = {}
    exec("import math\n" + text, namespace)  # noqa: S102 - our own generated text
    return model, params, text, namespace


def _records(params, n, derived):
    # Attribute access in Python, as compiled code has on the records.
    return parameter_records(params, n, derived).view(np.recarray)


def _states(model, params, rng):
    y = model.initial_state(params, 1)[:, 0] * rng.uniform(0.5, 2.0, len(model.states))
    return y + rng.uniform(0.0, 1.0, len(model.states))  # no zeros: every term is exercised


@pytest.mark.parametrize("model_cls", MODELS)
def test_generated_rhs_equals_the_models_rhs(model_cls):
    model, params, _, ns = _generated(model_cls)
    rec = _records(params, 1, ns[DERIVED_FUNCTION])[0]
    assert set(ns[DERIVED_NAMES]) <= set(rec.dtype.names)
    rng = np.random.default_rng(1)
    for t in (0.5, 3.0, 9.3, 20.0, 200.0):  # either side of Stein 2019's dosing breakpoints
        y = _states(model, params, rng)
        want = np.asarray(model.rhs(t, y, params, np), dtype=float)
        got = np.asarray(ns[HOISTED_RHS](None, t, y, rec, np), dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_derived_parameters_are_per_patient():
    model, params, _, ns = _generated(CarTPatientModel)
    two = params.broadcast(2).replace(k_prolif_per_day=np.array([0.5, 1.5]), dex_Vc_l=np.array([30.0, 60.0]))
    recs = _records(two, 2, ns[DERIVED_FUNCTION])
    rng = np.random.default_rng(2)
    y = _states(model, params, rng)
    for i in range(2):
        want = np.asarray(model.rhs(4.0, y, two.take(np.array([i])), np), dtype=float).ravel()
        got = np.asarray(ns[HOISTED_RHS](None, 4.0, y, recs[i], np), dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def _body(text: str, name: str) -> list[ast.Assign]:
    fn = next(node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef) and node.name == name)
    return [node for node in fn.body if isinstance(node, ast.Assign)]


def test_no_work_on_parameters_alone_is_left_in_the_generated_rhs():
    _, _, text, ns = _generated(CarTPatientModel)
    assert len(ns[DERIVED_NAMES]) > 20  # the composite model recomputes dozens of rate constants
    depends_on_state = {"t"}
    for node in _body(text, HOISTED_RHS):
        target = node.targets[0].id
        names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        if isinstance(node.value, ast.Subscript) or isinstance(node.value, ast.Attribute):
            if target.startswith("y"):
                depends_on_state.add(target)
            continue  # a load: y[k] or p.<field>
        # Every computed line involves a state, time or an earlier line that does.
        assert names & depends_on_state, ast.unparse(node)
        depends_on_state.add(target)


def test_generated_jacobian_reads_the_derived_parameters():
    _, _, text, _ = _generated(CarTPatientModel, with_jacobian=True)
    loads = {ast.unparse(node.value) for node in _body(text, "jacobian_values")}
    assert any(load.startswith("p.derived_") for load in loads)


def test_untraceable_rhs_gets_none(branching_model):
    assert hoisted_source(type(branching_model), None) is None


class _NamedLikeADerivedField(Model):
    """x' = -(k1 + k2) x: one derived parameter, k1 + k2, beside a parameter named like its field."""

    name = "named-like-derived"
    states = (State("x", "1", "x", initial=1.0),)
    parameter_table = params_from_rows([("derived_0", 0.25, "1/day", 0.0, 10.0, "test", "rate one"),
                                        ("k2", 0.5, "1/day", 0.0, 10.0, "test", "rate two")])

    def rhs(self, t, y, p, xp=np):
        return (-(p.derived_0 + p.k2) * y[0],)


def test_derived_fields_never_shadow_a_parameter():
    model, params, text, ns = _generated(_NamedLikeADerivedField)
    assert derived_prefix(["derived_0", "k2"]) == "derived1_"
    assert ns[DERIVED_NAMES] == ("derived1_0",)
    rec = _records(params, 1, ns[DERIVED_FUNCTION])[0]
    assert rec.derived_0 == 0.25 and rec.derived1_0 == -0.75  # the factor -(derived_0 + k2)
    assert ns[HOISTED_RHS](None, 0.0, [2.0], rec, np)[0] == pytest.approx(-1.5, rel=1e-15)


def test_a_parameter_named_like_a_derived_field_is_refused_by_name():
    params = CarTPatientModel().parameters()
    with pytest.raises(ValidationError, match="parameters.k_prolif_per_day"):
        parameter_records(params, 1, lambda p, xp: {"derived_0": 1.0, "k_prolif_per_day": 2.0})

"""Fuzz: mutated protocols (values of every type at every field, deleted fields, files in TOML
and YAML with bad bytes) load as a Protocol or fail with a ValidationError naming a field; an
accepted one round-trips and can be sampled. 0 tracebacks, 0 silent changes. Bounded for CI."""

import copy
import math
import tomllib
from importlib import resources

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwin.foundation.errors import CartwinError, ValidationError
from cartwin.trial.protocol import list_protocols, load_protocol, protocol_from_dict

BASES = {name: tomllib.loads(resources.files("cartwin.trial").joinpath(f"protocols/{name}.toml").read_text())
         for name in list_protocols()}

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.lists(st.integers(-5, 1000), max_size=6), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from([0, -1, 1e-300, 1e300, "", "nan", "1e6", "zuma-1", "solid", "lbcl", [], {}]),
)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))


def _mutate(doc, path, value, delete):
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def _accepted_is_sound(protocol, source) -> None:
    # Accepted means: validated values, the same protocol again from its own dict, and usable.
    again = protocol_from_dict(protocol.to_dict())
    assert again.to_dict() == protocol.to_dict()
    for section, fields in protocol.to_dict().items():
        for key, v in (fields.items() if isinstance(fields, dict) else []):
            if isinstance(v, float):
                assert math.isfinite(v), f"{section}.{key} accepted {v}"
    if not protocol.is_placeholder:
        doses = protocol.dose_cells(np.array([50.0, 80.0]))
        assert np.all(np.isfinite(doses)) and np.all(doses > 0)
        draw = protocol.virtual_population().sample(3, seed=1)
        assert len(draw.table) == 3


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_protocols_are_accepted_soundly_or_refused_by_name(data):
    name = data.draw(st.sampled_from(sorted(BASES)))
    base = BASES[name]
    doc = base
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(doc))))
        doc = _mutate(doc, path, data.draw(values), data.draw(st.booleans()))
    try:
        protocol = protocol_from_dict(doc)
    except ValidationError as exc:
        assert exc.field and str(exc).startswith(exc.field)
        return
    _accepted_is_sound(protocol, name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_protocol_files_with_random_bytes_and_shapes(tmp_path_factory, data):
    name = data.draw(st.sampled_from(sorted(BASES)))
    kind = data.draw(st.sampled_from(["toml-bytes", "yaml", "yaml-bytes"]))
    text = resources.files("cartwin.trial").joinpath(f"protocols/{name}.toml").read_bytes()
    if kind == "toml-bytes":
        raw = bytearray(text)
        for _ in range(data.draw(st.integers(1, 5))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        payload, suffix = bytes(raw), ".toml"
    elif kind == "yaml":
        doc = BASES[name]
        path = data.draw(st.sampled_from(list(_paths(doc))))
        payload, suffix = yaml.safe_dump(_mutate(doc, path, data.draw(values), False), allow_unicode=True).encode(), ".yaml"
    else:
        payload, suffix = data.draw(st.binary(max_size=400)), ".yml"
    path = tmp_path_factory.mktemp("p") / f"fuzz{suffix}"
    path.write_bytes(payload)
    try:
        protocol = load_protocol(path)
    except CartwinError as exc:
        assert str(exc).strip()
        return
    _accepted_is_sound(protocol, name)

"""Fuzz: random search inputs return matches or a ValidationError naming the field; text filters
match literally (wildcards included): every hit contains the text, case-insensitively, and every
study containing it is a hit. Bounded for CI."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwin.foundation.errors import ValidationError
from cartwin.registry import SearchFilter, search

texts = st.one_of(st.text(max_size=12), st.sampled_from(["%", "_", "%_%", "\\", "\\%", "'", "''; DROP TABLE studies; --",
                                                        "lymph", "LYMPHOMA", "Novartis", "China", "CD19", "a_b"]))


def _joined(v):
    if v is None:
        return ""
    if isinstance(v, (list, tuple, np.ndarray)):
        return " | ".join(map(str, list(v)))
    return str(v)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["condition", "sponsor", "country"]), text=texts)
def test_text_filters_match_literally(loaded_registry, field, text):
    everything = search(loaded_registry, SearchFilter.create(), all_columns=True)
    try:
        hits = search(loaded_registry, SearchFilter.create(**{field: text}))
    except ValidationError as exc:
        assert exc.field == field
        return
    if text == "":
        assert len(hits) == len(everything)
        return
    columns = {"condition": ["conditions", "disease_groups", "brief_title"], "sponsor": ["lead_sponsor", "collaborators"],
               "country": ["countries"]}[field]
    needle = text.lower()
    expected = {row.nct_id for row in everything.itertuples()
                if any(needle in _joined(getattr(row, c)).lower() for c in columns)}
    assert set(hits["nct_id"]) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.fixed_dictionaries({}, optional={
    "phase": texts, "status": texts, "target": texts, "cell_therapy": texts, "cell_source": texts,
    "year_from": st.one_of(st.integers(-10**6, 10**6), texts)}))
def test_any_filter_values_give_hits_or_a_named_error(loaded_registry, options):
    try:
        hits = search(loaded_registry, SearchFilter.create(**options))
    except ValidationError as exc:
        assert exc.field in options or exc.field.split(".")[0] in options
        return
    assert set(hits.columns) >= {"nct_id", "phase"}

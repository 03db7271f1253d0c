"""Grades of the bedside picture: the table look-up equals grading every patient directly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwin.clinic import bedside_grades as bg
from cartwin.clinic.observe import DEFAULT_MAPPING, BedsideMapping, bedside


def _direct(observables, toci, steroids, mapping=DEFAULT_MAPPING):
    values = bedside(observables, mapping)
    crs, icans = bg.grade_now(values, toci, steroids)
    return crs, icans, values["temperature_c"] >= 38.0  # fever, in every grading scale


def _cohort(n, seed, leak=True):
    """Drivers as a run sees them (mostly near rest) plus grid nodes, boundaries and out-of-range
    values; ``leak=False`` is a model without a capillary-leak observable (v1, library models)."""
    rng = np.random.default_rng(seed)
    quiet = rng.random(n) < 0.6
    fever = np.where(quiet, rng.uniform(0.0, 0.06, n), rng.uniform(-0.1, 1.1, n))
    icans = np.where(quiet, rng.uniform(0.0, 0.2, n), rng.uniform(-0.1, 1.1, n))
    capillary = np.where(quiet, rng.uniform(0.0, 0.2, n), rng.uniform(-0.1, 1.1, n))
    on_node = rng.random(n) < 0.1
    fever[on_node] = rng.choice(bg.DRIVER_NODES, on_node.sum())
    icans[on_node] = rng.choice(bg.ICANS_NODES, on_node.sum())
    capillary[on_node] = rng.choice(bg.DRIVER_NODES, on_node.sum())
    return {
        "fever_driver": fever, "icans_driver": icans, **({"capillary_leak_driver": capillary} if leak else {}),
        "crp_mg_per_l": rng.uniform(0, 300, n), "myeloid_activation": rng.uniform(0, 1, n),
        "anc_per_ul": rng.uniform(0, 5000, n), "platelets_per_nl": rng.uniform(0, 400, n),
        "igg_g_per_l": rng.uniform(0, 15, n),
    }, rng.random(n) < 0.3, rng.random(n) < 0.2


@pytest.mark.parametrize("seed,leak", [(0, True), (1, True), (2, False)])
def test_assess_equals_grading_every_patient(seed, leak):
    observables, toci, steroids = _cohort(20_000, seed, leak)
    crs, icans, febrile = bg.assess(observables, toci, steroids)
    want = _direct(observables, toci, steroids)
    np.testing.assert_array_equal(crs, want[0])
    np.testing.assert_array_equal(icans, want[1])
    np.testing.assert_array_equal(febrile, want[2])
    assert len(np.unique(crs)) == 5 and len(np.unique(icans)) == 5  # the sample spans every grade


def test_most_patients_are_read_from_the_grid_and_the_grid_spans_the_grades(monkeypatch):
    grids = bg.grade_grid(DEFAULT_MAPPING)
    assert grids is not None
    crs_grid, icans_grid = grids
    assert crs_grid.shape == (4, 2, bg.DRIVER_NODES.size, bg.DRIVER_NODES.size)
    assert icans_grid.shape == (4, bg.ICANS_NODES.size)
    assert set(np.unique(crs_grid[:, 0])) == {0, 1, 2, 3, 4} and set(np.unique(icans_grid)) == {0, 1, 2, 3, 4}
    observables, toci, steroids = _cohort(20_000, 5)
    graded = []
    real = bg._graded_directly
    monkeypatch.setattr(bg, "_graded_directly", lambda obs, *a: graded.append(len(obs["fever_driver"])) or real(obs, *a))
    bg.assess(observables, toci, steroids)
    assert graded and graded[0] < 0.1 * 20_000
    # Patients in straddling CRS cells are read from the cells' finer grids: of this cohort's
    # 215 in straddling cells (coarse grid alone), fewer than 50 are left to grade directly.
    assert sum(graded) < 50
    assert len(bg.CELL_GRIDS) > 0


def test_the_cell_grid_cache_changes_no_grade_and_keeps_its_bounds(monkeypatch):
    """A cache that keeps 3 grids (cleared by every batch) or none reads the same grades as a fresh one."""
    observables, toci, steroids = _cohort(5_000, 11)
    want = _direct(observables, toci, steroids)
    for cache in (bg.CellGridCache(max_cells=3), bg.CellGridCache(max_cells=0), bg.CellGridCache()):
        monkeypatch.setattr(bg, "CELL_GRIDS", cache)
        for _ in range(2):  # the second call reads what the first kept
            for got, expected in zip(bg.assess(observables, toci, steroids), want, strict=True):
                np.testing.assert_array_equal(got, expected)
        assert len(cache) <= cache.max_cells
    assert len(cache) > 3  # the default cache keeps this cohort's straddling cells
    kept = cache.get(DEFAULT_MAPPING, [next(iter(cache._by_mapping[DEFAULT_MAPPING]))])
    assert all(g is None or not g.flags.writeable for g in kept.values())
    small = bg.CellGridCache(max_mappings=2)
    mappings = [BedsideMapping(afebrile_c=36.5 + 0.1 * i) for i in range(3)]
    for m in mappings:
        small.put(m, {(0, 0, 0): None})
    assert small.get(mappings[0], [(0, 0, 0)]) == {} and small.get(mappings[2], [(0, 0, 0)]) == {(0, 0, 0): None}
    small.clear()
    assert len(small) == 0


def test_finer_cell_grids_cover_the_cell_corners_exactly():
    cells = np.arange(bg.DRIVER_NODES.size - 1)
    nodes = bg._cell_nodes(cells)
    assert nodes.shape == (cells.size, bg.CELL_SUBDIVISIONS + 1)
    np.testing.assert_array_equal(nodes[:, 0], bg.DRIVER_NODES[:-1])
    np.testing.assert_array_equal(nodes[:, -1], bg.DRIVER_NODES[1:])
    assert (np.diff(nodes, axis=1) > 0).all()


def test_a_non_monotone_grid_is_not_used(monkeypatch):
    """If grades were not monotone in the drivers the sandwich would be wrong: grade everyone."""

    def zigzag(values, toci, steroids):
        level = np.round(10 * values["temperature_c"]).astype(int)
        return np.stack([level % 2, np.zeros_like(level), np.zeros_like(level)]).astype(np.int8)

    monkeypatch.setattr(bg, "_graded", zigzag)
    mapping = BedsideMapping(afebrile_c=36.9)  # a mapping not cached with the real graders
    assert bg.grade_grid(mapping) is None
    observables, toci, steroids = _cohort(500, 3)
    crs, _, _ = bg.assess(observables, toci, steroids, mapping)
    np.testing.assert_array_equal(crs, zigzag(bedside(observables, mapping), toci, steroids)[0])
    bg.grade_grid.cache_clear()


def test_non_finite_drivers_are_graded_directly():
    observables = {"fever_driver": np.array([np.nan, 0.9, np.inf]), "icans_driver": np.array([0.1, -np.inf, np.inf]),
                   "crp_mg_per_l": np.full(3, 10.0)}
    flags = np.zeros(3, dtype=bool)
    for got, want in zip(bg.assess(observables, flags, flags), _direct(observables, flags, flags), strict=True):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=80, deadline=None)
@given(
    fever=st.floats(0.0, 1.0), icans=st.floats(0.0, 1.0), leak=st.floats(0.0, 1.0), d_fever=st.floats(0.0, 1.0),
    d_icans=st.floats(0.0, 1.0), d_leak=st.floats(0.0, 1.0), toci=st.booleans(), steroids=st.booleans(),
)
def test_grades_and_fever_never_fall_as_any_driver_rises(fever, icans, leak, d_fever, d_icans, d_leak, toci, steroids):
    """The property the grid look-up rests on, for every treatment history."""
    pair = {"fever_driver": np.array([fever, min(fever + d_fever, 1.0)]),
            "icans_driver": np.array([icans, min(icans + d_icans, 1.0)]),
            "capillary_leak_driver": np.array([leak, min(leak + d_leak, 1.0)]), "crp_mg_per_l": np.zeros(2)}
    crs, icans_grade, febrile = _direct(pair, np.full(2, toci), np.full(2, steroids))
    assert crs[1] >= crs[0] and icans_grade[1] >= icans_grade[0] and febrile[1] >= febrile[0]


def test_crs_does_not_read_the_icans_driver_nor_icans_the_leak_when_both_are_given():
    """Model v2 separates the syndromes: capillary leak (CRS) and neurovascular activation (ICANS)."""
    flags = np.zeros(2, dtype=bool)
    base = {"fever_driver": np.full(2, 0.8), "crp_mg_per_l": np.zeros(2)}
    crs, icans, _ = bg.assess({**base, "icans_driver": np.array([0.0, 1.0]), "capillary_leak_driver": np.full(2, 0.5)},
                              flags, flags)
    assert crs[0] == crs[1] and icans[1] > icans[0]
    crs, icans, _ = bg.assess({**base, "icans_driver": np.full(2, 0.3), "capillary_leak_driver": np.array([0.0, 1.0])},
                              flags, flags)
    assert icans[0] == icans[1] and crs[1] > crs[0]


def test_a_model_without_the_cytokine_observables_gets_a_clear_error():
    from cartwin.clinic.policy import ConsensusPolicy
    from cartwin.engine import DecisionPoints, SaveAt, simulate
    from cartwin.foundation.errors import ValidationError
    from cartwin.model.library import Kimmel2021

    model = Kimmel2021()
    with pytest.raises(ValidationError, match="observables.*fever_driver.*missing"):
        simulate(model, model.parameters(), saveat=SaveAt([0.0, 3.0]),
                 decisions=DecisionPoints(every_days=1.0, policy=ConsensusPolicy()))


def test_endothelial_leak_reaches_grade3_crs_after_tocilizumab_but_il6_signal_alone_does_not():
    """Model v2.1: the capillary leak of severe CRS is endothelial (Hay 2017) and can progress after
    tocilizumab has blocked IL-6 signalling (tocilizumab-refractory CRS, Neelapu 2018)."""
    toci = np.ones(2, dtype=bool)
    no = np.zeros(2, dtype=bool)
    blocked = {"fever_driver": np.zeros(2), "icans_driver": np.zeros(2), "crp_mg_per_l": np.zeros(2),
               "capillary_leak_driver": np.array([0.3, 0.95])}
    crs, _, _ = bg.assess(blocked, toci, no)
    assert crs[0] <= 1 and crs[1] >= 3
    # Maximal IL-6 signalling with a quiet endothelium: fever and at most fluid-responsive hypotension.
    signal_only = {"fever_driver": np.ones(2), "icans_driver": np.zeros(2), "crp_mg_per_l": np.zeros(2),
                   "capillary_leak_driver": np.zeros(2)}
    crs, _, _ = bg.assess(signal_only, no, no)
    assert (crs >= 1).all() and (crs <= 2).all()

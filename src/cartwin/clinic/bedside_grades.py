"""ASTCT grades of the noise-free bedside picture, as a management policy needs them.

Owns :func:`grade_now` (grades of a bedside picture, one per patient) and :func:`assess`
(grades and fever straight from the model's observables). May import
:mod:`cartwin.clinic.observe` and :mod:`cartwin.clinic.grading`.

Why :func:`assess` reads most grades from a table: a policy grades every patient at every
decision point (daily for a year in a scale run), and the graders' per-call cost made grading a
quarter of such a run. The graded part of the bedside picture depends on two observables only,
``fever_driver`` and ``icans_driver`` (the rest feed laboratory values the ASTCT scales do not
read; model v2 adds ``capillary_leak_driver``, which CRS reads in place of ``icans_driver``), and the
CRS grade, the ICANS grade and fever are each non-decreasing in each driver (a tested property of
:func:`~cartwin.clinic.observe.bedside` with the ASTCT graders). So a patient whose
drivers lie in a cell of a grid whose lower and upper corners have the same grades and fever has
exactly those; only patients in cells that straddle a grade boundary are graded directly. The
grid is graded once per mapping with the same graders and checked to be monotone on its nodes;
where it is not (an unusual :class:`~cartwin.clinic.observe.BedsideMapping`), every patient is
graded directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from cartwin.clinic.observe import DEFAULT_MAPPING, BedsideMapping, bedside

#: Observables the bedside picture cannot do without (the others default to normal values).
REQUIRED_OBSERVABLES = ("fever_driver", "icans_driver", "crp_mg_per_l")
#: Grid nodes of the CRS drivers (fever, capillary leak); 1/128 apart, so few patients fall in a
#: straddling cell.
DRIVER_NODES = np.linspace(0.0, 1.0, 129)
#: Grid nodes of the ICANS driver, 1/4096 apart: its grid is one-dimensional, so a finer one
#: costs little to build (4 x 4,097 gradings) and leaves ~30x fewer patients to grade directly.
ICANS_NODES = np.linspace(0.0, 1.0, 4097)


def _graded(values: dict[str, np.ndarray], toci_given: np.ndarray, steroids_given: np.ndarray) -> np.ndarray:
    """ASTCT CRS grade, ICANS grade and fever (0/1, the graders' own test) per patient, shape (3, n)."""
    from cartwin.clinic.grading import astct
    from cartwin.clinic.grading.schema import ArrayColumns, fever

    n = len(toci_given)
    table = ArrayColumns({**values, "tocilizumab_given": np.asarray(toci_given, dtype=bool),
                          "steroids_given": np.asarray(steroids_given, dtype=bool),
                          "antipyretics_given": np.zeros(n, dtype=bool)})  # built here, already valid
    crs, _ = astct.grade_crs(table)
    icans, _ = astct.grade_icans(table)
    return np.stack([crs, icans, fever(table)]).astype(np.int8)


def grade_now(values: dict[str, np.ndarray], toci_given: np.ndarray, steroids_given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ASTCT CRS and ICANS grades of the current bedside picture (one value per patient)."""
    crs, icans, _ = _graded(values, toci_given, steroids_given)
    return crs.astype(int), icans.astype(int)


def _graded_directly(observables: dict, toci_given: np.ndarray, steroids_given: np.ndarray,
                     mapping: BedsideMapping) -> np.ndarray:
    """CRS grade, ICANS grade and fever (0/1) of each patient, shape (3, n)."""
    return _graded(bedside(observables, mapping), toci_given, steroids_given)


@lru_cache(maxsize=16)
def grade_grid(mapping: BedsideMapping = DEFAULT_MAPPING) -> tuple[np.ndarray, np.ndarray] | None:
    """CRS grade and fever on the (fever, capillary-leak) driver grid and the ICANS grade on the
    ICANS-driver nodes, for each treatment history; None if either is not monotone.

    The bedside picture separates (:func:`~cartwin.clinic.observe.bedside`): CRS and fever read
    IL-6 signalling and the capillary leak only, ICANS the neurovascular driver only. Shapes
    (4, 2, nodes, nodes) [history, (CRS, fever), fever node, leak node] on :data:`DRIVER_NODES` and
    (4, icans nodes) [history, ICANS-driver node] on :data:`ICANS_NODES`; history = tocilizumab
    given + 2 x steroids given.
    """
    f, leak = (a.ravel() for a in np.meshgrid(DRIVER_NODES, DRIVER_NODES, indexing="ij"))
    m = f.size
    nodes = len(DRIVER_NODES)
    crs_grids, icans_grids = [], []
    for history in range(4):
        toci, steroids = np.full(m, bool(history & 1)), np.full(m, bool(history & 2))
        picture = {"fever_driver": f, "icans_driver": np.zeros(m), "capillary_leak_driver": leak, "crp_mg_per_l": np.zeros(m)}
        graded = _graded_directly(picture, toci, steroids, mapping)
        crs_grids.append(graded[[0, 2]].reshape(2, nodes, nodes))
        k = len(ICANS_NODES)
        neuro = {"fever_driver": np.zeros(k), "icans_driver": ICANS_NODES, "capillary_leak_driver": np.zeros(k),
                 "crp_mg_per_l": np.zeros(k)}
        icans_grids.append(_graded_directly(neuro, np.full(k, bool(history & 1)), np.full(k, bool(history & 2)), mapping)[1])
    crs_grid, icans_grid = np.stack(crs_grids), np.stack(icans_grids)
    monotone = ((np.diff(crs_grid, axis=2) >= 0).all() and (np.diff(crs_grid, axis=3) >= 0).all()
                and (np.diff(icans_grid, axis=1) >= 0).all())
    return (crs_grid, icans_grid) if monotone else None


#: Subdivisions per axis of a straddling CRS cell's finer grid (17 x 17 nodes, graded once per
#: cell and treatment history and kept for the process).
CELL_SUBDIVISIONS = 16
#: Most finer cell grids kept per mapping (each 578 bytes; :class:`CellGridCache`).
MAX_CELLS = 200_000


def _cell_nodes(i: np.ndarray) -> np.ndarray:
    """The finer nodes of CRS cells ``i`` (one row per cell): the same values for grading and look-up."""
    low, high = DRIVER_NODES[i][:, None], DRIVER_NODES[i + 1][:, None]
    nodes = low + (high - low) * (np.arange(CELL_SUBDIVISIONS + 1) / CELL_SUBDIVISIONS)
    nodes[:, -1] = high[:, 0]  # the cell's own corners exactly, so every driver in the cell is inside
    return nodes


class CellGridCache:
    """The finer grids of the straddling CRS cells graded so far, per bedside mapping.

    Key: (mapping, treatment history, fever cell, leak cell); value: CRS grade and fever on the
    cell's finer grid, shape (2, 17, 17), or None where they are not monotone on it (its patients
    are graded directly). A grid depends only on its key, so what is kept changes no result, only
    how often a cell is graded again. Bounds: at most ``max_mappings`` mappings (the least recently
    used one is dropped) and ``max_cells`` grids per mapping (a mapping's grids are dropped together
    when a batch would pass the bound); kept for the process unless :meth:`clear` is called.
    """

    def __init__(self, max_mappings: int = 16, max_cells: int = MAX_CELLS) -> None:
        self.max_mappings, self.max_cells = int(max_mappings), int(max_cells)
        self._by_mapping: OrderedDict[BedsideMapping, dict[tuple[int, int, int], np.ndarray | None]] = OrderedDict()
        self._lock = threading.Lock()  # a threaded scheduler may grade cohorts concurrently

    def get(self, mapping: BedsideMapping, keys) -> dict[tuple[int, int, int], np.ndarray | None]:
        """The grids kept of ``keys`` (history, fever cell, leak cell); a key not kept is absent."""
        with self._lock:
            store = self._by_mapping.get(mapping)
            if store is None:
                return {}
            self._by_mapping.move_to_end(mapping)
            return {k: store[k] for k in keys if k in store}

    def put(self, mapping: BedsideMapping, grids: dict[tuple[int, int, int], np.ndarray | None]) -> None:
        """Keep ``grids`` (key -> grid or None) of ``mapping``, within the bounds."""
        with self._lock:
            store = self._by_mapping.setdefault(mapping, {})
            self._by_mapping.move_to_end(mapping)
            if len(store) + len(grids) > self.max_cells:
                store.clear()
            if len(grids) <= self.max_cells:
                store.update(grids)
            while len(self._by_mapping) > self.max_mappings:
                self._by_mapping.popitem(last=False)

    def __len__(self) -> int:
        """Grids kept, over every mapping."""
        with self._lock:
            return sum(len(s) for s in self._by_mapping.values())

    def clear(self) -> None:
        """Drop every kept grid."""
        with self._lock:
            self._by_mapping.clear()


#: The process's cell grids (:func:`assess` reads and fills it).
CELL_GRIDS = CellGridCache()


def _cell_lookup(mapping: BedsideMapping, cells: tuple[np.ndarray, np.ndarray, np.ndarray], f: np.ndarray,
                 leak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CRS grade and fever at the lower and upper corners of each patient's finer cell, shape (m, 2)
    each; the corners differ where the finer cell still straddles (or the cell grid is not usable)."""
    history, fi, li = cells
    keys = list(zip(history.tolist(), fi.tolist(), li.tolist(), strict=True))
    unique = list(dict.fromkeys(keys))
    found = CELL_GRIDS.get(mapping, unique)
    new = [k for k in unique if k not in found]
    if new:
        h, ci, cj = (np.array(v, dtype=np.intp) for v in zip(*new, strict=True))
        k = CELL_SUBDIVISIONS + 1
        fn, ln = _cell_nodes(ci), _cell_nodes(cj)
        grid_f = np.repeat(fn[:, :, None], k, axis=2).ravel()
        grid_l = np.repeat(ln[:, None, :], k, axis=1).ravel()
        m = grid_f.size
        picture = {"fever_driver": grid_f, "icans_driver": np.zeros(m), "capillary_leak_driver": grid_l,
                   "crp_mg_per_l": np.zeros(m)}
        graded = _graded(bedside(picture, mapping), np.repeat(h & 1, k * k).astype(bool),
                         np.repeat(h & 2, k * k).astype(bool))[[0, 2]].reshape(2, len(new), k, k).transpose(1, 0, 2, 3)
        fresh = {}
        for key, grid in zip(new, graded, strict=True):
            monotone = (np.diff(grid, axis=1) >= 0).all() and (np.diff(grid, axis=2) >= 0).all()
            fresh[key] = grid.copy() if monotone else None
            if monotone:
                fresh[key].flags.writeable = False  # shared by every later call: read-only
        CELL_GRIDS.put(mapping, fresh)
        found.update(fresh)  # this call reads its own grids, whatever the cache keeps
    low = np.zeros((len(keys), 2), dtype=np.int8)
    high = np.ones((len(keys), 2), dtype=np.int8)  # unusable grid: corners differ
    fn, ln = _cell_nodes(fi), _cell_nodes(li)
    # Exact comparisons against the finer nodes themselves: node(lo) <= driver <= node(hi).
    flo, fhi = (fn <= f[:, None]).sum(axis=1) - 1, (fn < f[:, None]).sum(axis=1)
    llo, lhi = (ln <= leak[:, None]).sum(axis=1) - 1, (ln < leak[:, None]).sum(axis=1)
    for row, key in enumerate(keys):
        grid = found[key]
        if grid is not None:
            low[row] = grid[:, flo[row], llo[row]]
            high[row] = grid[:, fhi[row], lhi[row]]
    return low, high


def assess(observables: dict, toci_given: np.ndarray, steroids_given: np.ndarray,
           mapping: BedsideMapping = DEFAULT_MAPPING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CRS grade, ICANS grade and fever (temperature >= 38 °C) of each patient's bedside picture.

    Equal to grading :func:`~cartwin.clinic.observe.bedside` with :func:`grade_now` (tested);
    see the module docstring for why most patients are read from :func:`grade_grid`.
    """
    missing = [k for k in REQUIRED_OBSERVABLES if k not in observables]
    if missing:
        from cartwin.foundation.errors import ValidationError

        raise ValidationError("observables", "the model's " + ", ".join(REQUIRED_OBSERVABLES)
                              + " (a management policy grades CRS and ICANS from them)", sorted(observables),
                              hint="missing " + ", ".join(missing) + "; use a model with a cytokine and endothelial "
                              "layer (CarTPatientModel) or no policy")
    toci_given = np.asarray(toci_given, dtype=bool)
    steroids_given = np.asarray(steroids_given, dtype=bool)
    n = toci_given.size
    out = np.empty((3, n), dtype=np.int8)
    grids = grade_grid(mapping)
    if grids is None:
        unresolved = np.arange(n)
    else:
        crs_grid, icans_grid = grids
        # A model without a capillary-leak observable shares its ICANS driver (observe.bedside).
        names = ("fever_driver", "capillary_leak_driver" if "capillary_leak_driver" in observables else "icans_driver",
                 "icans_driver")
        drivers = [np.broadcast_to(np.asarray(observables[k], dtype=float), (n,)) for k in names]
        finite = np.isfinite(drivers[0]) & np.isfinite(drivers[1]) & np.isfinite(drivers[2])
        # bedside clips the drivers' effects to their values at 0 and 1.
        f, leak, e = (np.clip(np.where(finite, d, 0.0), 0.0, 1.0) for d in drivers)
        history = toci_given.astype(np.intp) + 2 * steroids_given

        def lo(x, nodes=DRIVER_NODES):
            return np.searchsorted(nodes, x, "right") - 1

        def hi(x, nodes=DRIVER_NODES):
            return np.searchsorted(nodes, x, "left")

        # Exact comparisons against the nodes themselves: node(lo) <= driver <= node(hi).
        crs_low, crs_high = crs_grid[history, :, lo(f), lo(leak)], crs_grid[history, :, hi(f), hi(leak)]
        icans_low, icans_high = icans_grid[history, lo(e, ICANS_NODES)], icans_grid[history, hi(e, ICANS_NODES)]
        icans_same = icans_low == icans_high
        resolved = finite & (crs_low == crs_high).all(axis=1) & icans_same
        out[0, resolved] = crs_low[resolved, 0]
        out[1, resolved] = icans_low[resolved]
        out[2, resolved] = crs_low[resolved, 1]
        # A patient whose CRS cell straddles a grade boundary is read from that cell's finer grid.
        straddling = np.flatnonzero(finite & ~resolved & icans_same)
        if straddling.size:
            cells = (history[straddling], np.minimum(lo(f[straddling]), DRIVER_NODES.size - 2),
                     np.minimum(lo(leak[straddling]), DRIVER_NODES.size - 2))
            fine_low, fine_high = _cell_lookup(mapping, cells, f[straddling], leak[straddling])
            read = (fine_low == fine_high).all(axis=1)
            at = straddling[read]
            out[0, at] = fine_low[read, 0]
            out[1, at] = icans_low[at]
            out[2, at] = fine_low[read, 1]
            resolved[at] = True
        unresolved = np.flatnonzero(~resolved)
    if unresolved.size:
        subset = {k: np.broadcast_to(np.asarray(v), (n,))[unresolved] for k, v in observables.items()}
        out[:, unresolved] = _graded_directly(subset, toci_given[unresolved], steroids_given[unresolved], mapping)
    return out[0].astype(int), out[1].astype(int), out[2].astype(bool)

"""The cartwin composite CAR-T patient model (``CarTPatientModel``, version 2).

Sub-models, each from a published model (full equations and the parameter table with sources
are in docs/model.md, generated from this file's table):

* **Host lymphocytes and homeostatic space** — Kimmel et al. 2021 (Proc R Soc B 288:20210229):
  Gompertz competition of normal T cells ``N`` and CAR-T cells for a shared niche; after
  lymphodepletion the free niche drives CAR-T expansion (the "homeostatic boost").
* **CAR-T phenotypes** — effector ``E``, memory ``M`` and exhausted ``X`` cells (cells/µL blood),
  after Kirouac et al. 2023 (Nat Biotechnol, memory/effector/exhausted toggle) and Stein et al.
  2019 (contraction rate alpha, effector-to-memory fraction F_B, terminal rate beta). Antigen
  drives saturating proliferation (``s = A/(K_A + A)``), memory activation and exhaustion.
* **Tumour** — antigen-positive ``T+`` and antigen-negative ``T-`` cells sharing a logistic
  capacity; CAR-T kill ``T+`` with Kimmel's saturating rate ``gamma_B T+ E/(k_B + E)``. For
  solid tumours only an infiltrating share of effectors meets the tumour and a suppressive
  micro-environment divides killing and speeds exhaustion (after Leon-Triana 2021).
  A tumour below one cell is set to zero at the next decision point (eradication).
* **Normal target cells** — B cells (CD19 products) or plasma cells (BCMA products) with
  constant marrow production and turnover (Hosseini et al. 2020 npj Syst Biol Appl 6:28 for
  the turnover rate); killed by CAR-T while they persist (B-cell aplasia).
* **Cytokines** — IFN-γ from antigen-engaged effectors activates myeloid cells, which (with
  damage signals from tumour killing) release IL-6: the macrophage amplification of Santurio et
  al. 2025 (PLoS Comput Biol) with the IL-6 half-life of Hosseini et al. 2020 (20 min).
  IL-6 signalling drives fever and CRP; tocilizumab blocks IL-6R, which lowers signalling and
  the receptor-mediated IL-6 clearance, so serum IL-6 rises (Nishimoto et al. 2008 Blood
  112:3959). An endothelial-activation state driven by serum IL-6 and IFN-γ, with slower
  kinetics, drives ICANS (Gust et al. 2017 Cancer Discov 7:1404).
* **Drugs** — tocilizumab two-compartment PK with Michaelis-Menten elimination (Frey et al.
  2010 J Clin Pharmacol 50:754), dexamethasone two-compartment PK (Krzyzanski et al. 2021
  J Pharmacokinet Pharmacodyn 48:261), fludarabine (F-ara-A) three-compartment PK
  (Langenhorst et al. 2019 Clin Pharmacokinet 58:627) and a one-compartment cyclophosphamide
  exposure (de Jonge et al. 2005 Clin Pharmacokinet 44:1135); their combined exposure depletes
  lymphocytes.
* **Haematopoiesis** — Friberg et al. 2002 (J Clin Oncol 20:4713) transit-compartment chains
  for neutrophils and platelets; lymphodepleting chemotherapy and myeloid inflammation
  suppress proliferation (prolonged cytopenia, Rejeski et al. 2021 Blood 138:2499). IgG
  falls while CAR-T remove its producing cells (hypogammaglobulinaemia).
* **Serum M-protein** (myeloma) — production proportional to tumour, IgG half-life elimination
  (the biomarker form of Singh et al. 2021 CPT PSP 10:362).

Units: cells/µL of blood for lymphocytes (whole body = x 5e8 µL, Kimmel's bridge), cells for
tumour, pg/mL for cytokines, mg/L for CRP, mg for drug amounts, days for time.

Parameters marked *assumption* in the source column have no published value for CAR-T; they
were set from the cited physiology and are the first candidates for calibration.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np

from cartwin.foundation.units import BODY_LYMPHOID_VOLUME_UL, CELLS_PER_UG_GDNA
from cartwin.model.base import Model, Observable, State, params_from_rows

LN2 = math.log(2.0)

KIMMEL = "Kimmel 2021 Proc R Soc B 288:20210229 (Table 1 / BIOMD0000001041)"
STEIN = "Stein 2019 CPT PSP 8:285, Table 1"
KIROUAC = "Kirouac 2023 Nat Biotechnol (doi 10.1038/s41587-023-01687-x), CR-class median via mstadt/CART2"
HOSSEINI = "Hosseini 2020 npj Syst Biol Appl 6:28, supplementary table"
FREY = "Frey 2010 J Clin Pharmacol 50:754 (tocilizumab popPK)"
KRZ = "Krzyzanski 2021 J Pharmacokinet Pharmacodyn 48:261 (dexamethasone popPK; hourly values x24)"
FRIBERG = "Friberg 2002 J Clin Oncol 20:4713"
LEON = "Leon-Triana 2021 Cancers (BioModels SBML; dual-target CAR-T in solid tumours)"
LANG = "Langenhorst 2019 Clin Pharmacokinet 58:627 (F-ara-A popPK; hourly values x24)"
CALIB = "calibrated: scripts/calibrate_model_v2.py to Kimmel 2021 axi-cel medians (model/data/calibration_v2.json)"


def _calibrated() -> dict[str, float]:
    # Written by scripts/calibrate_model_v2.py together with its targets and fit quality.
    text = resources.files("cartwin.model").joinpath("data/calibration_v2.json").read_text()
    return json.loads(text)["parameters"]


_CAL = _calibrated()
ASSUME = "assumption"


class CarTPatientModel(Model):
    """Composite CAR-T patient model; see the module docstring and docs/model.md.

    Example
    -------
    >>> from cartwin.model import CarTPatientModel
    >>> model = CarTPatientModel()
    >>> len(model.states)
    39
    """

    name = "cartwin-cart"
    version = "2"
    citation = "cartwin composite model v2 (docs/model.md)"

    states = (
        State("host_t", "cells/uL", "host (non-CAR) T lymphocytes in blood", initial=500.0),
        State("car_effector", "cells/uL", "effector CAR-T cells"),
        State("car_memory", "cells/uL", "memory CAR-T cells"),
        State("car_exhausted", "cells/uL", "exhausted CAR-T cells"),
        State("tumour_pos", "cells", "antigen-positive tumour cells", initial=1e10, extinction_below=1.0),
        State("tumour_neg", "cells", "antigen-negative tumour cells", initial=0.0, extinction_below=1.0),
        State("normal_target", "cells/uL", "normal target-bearing cells (B cells / plasma cells)", initial=150.0),
        State("ifng", "pg/mL", "serum IFN-gamma", initial=2.0),
        State("myeloid_activation", "1", "fraction of activated monocytes/macrophages"),
        State("il6", "pg/mL", "serum IL-6", initial=5.0),
        State("endothelial_activation", "1", "systemic endothelial activation (capillary leak: CRS hypotension, hypoxia)"),
        State("crp", "mg/L", "C-reactive protein", initial=5.0),
        State("toci_central", "mg", "tocilizumab, central compartment"),
        State("toci_peripheral", "mg", "tocilizumab, peripheral compartment"),
        State("dex_central", "mg", "dexamethasone, central compartment"),
        State("dex_peripheral", "mg", "dexamethasone, peripheral compartment"),
        State("flu_central", "mg", "fludarabine (F-ara-A), central"),
        State("flu_peripheral1", "mg", "fludarabine (F-ara-A), shallow peripheral"),
        State("flu_peripheral2", "mg", "fludarabine (F-ara-A), deep peripheral"),
        State("cyclophosphamide", "mg", "cyclophosphamide, body"),
        State("m_protein", "g/dL", "serum monoclonal protein (myeloma)"),
        State("neut_prolif", "cells/uL", "neutrophil precursors, proliferating (Friberg)", initial=3000.0),
        State("neut_transit1", "cells/uL", "neutrophil transit 1", initial=3000.0),
        State("neut_transit2", "cells/uL", "neutrophil transit 2", initial=3000.0),
        State("neut_transit3", "cells/uL", "neutrophil transit 3", initial=3000.0),
        State("neutrophils", "cells/uL", "circulating neutrophils (ANC)", initial=3000.0),
        State("plt_prolif", "10^9/L", "platelet precursors, proliferating (Friberg)", initial=200.0),
        State("plt_transit1", "10^9/L", "platelet transit 1", initial=200.0),
        State("plt_transit2", "10^9/L", "platelet transit 2", initial=200.0),
        State("plt_transit3", "10^9/L", "platelet transit 3", initial=200.0),
        State("platelets", "10^9/L", "circulating platelets", initial=200.0),
        State("igg", "g/L", "serum IgG", initial=9.0),
        # --- added in v2 (appended, so v1 state indices are unchanged) ---
        State("chronic_stimulation", "1", "antigen stimulation averaged over the exhaustion time scale (exhaustion program)"),
        State("neurovascular_activation", "1", "neurovascular-unit / blood-brain-barrier activation (ICANS driver)"),
        State("car_priming", "1", "antigen engagement of effector CAR-T cells, first stage of the secretion lag"),
        State("car_engagement", "1", "antigen engagement of effector CAR-T cells, lagging stimulation (cytokine secretion)"),
        State("marrow_reserve", "1", "haematopoietic stem/progenitor reserve (1 = intact); scales marrow proliferation", initial=1.0),
        # --- added in v2.2 ---
        # Expected number of antigen-positive tumour lineages (cells at infusion whose progeny
        # still survive), in units of the patient's extinction threshold: below 1 the last
        # lineage has died out and the tumour is gone (Kendall 1948 birth-death process).
        State("tumour_lineages", "1", "surviving antigen-positive tumour lineages / the patient's extinction threshold",
              initial=1e10 / math.log(2.0), extinction_below=1.0, extinguishes=("tumour_pos",)),
        State("antigen_persistence", "1", "share of the last ~2 months with tumour antigen present (duration-driven exhaustion program)"),
    )

    parameter_table = params_from_rows(
        [
            # --- host lymphocytes and homeostatic niche (Kimmel 2021) ---------------------
            ("r_N_per_day", 0.17, "1/day", 0.0, 5.0, KIMMEL, "host T-cell Gompertz growth rate"),
            ("K_N_cells_per_ul", 500.0, "cells/uL", 1.0, 1e4, KIMMEL, "host T-cell carrying capacity"),
            ("K_C_cells_per_ul", 139.0, "cells/uL", 1.0, 1e4, KIMMEL, "CAR-T niche capacity"),
            ("rho_C_per_day", 0.0251, "1/day", 0.0, 5.0, KIMMEL, "CAR-T baseline homeostatic rate"),
            ("a_homeostatic", 0.423, "1", 1e-6, 100.0, KIMMEL, "shape of density-dependent rate"),
            ("b_homeostatic_per_day", 0.525, "1/day", 0.0, 10.0, KIMMEL, "amplitude of density-dependent rate"),
            ("homeostatic_scale", _CAL["homeostatic_scale"], "1", 0.0, 5.0, CALIB, "share of Kimmel's homeostatic drive kept beside antigen drive"),
            # --- CAR-T phenotypes ---------------------------------------------------------
            ("k_prolif_per_day", _CAL["k_prolif_per_day"], "1/day", 0.0, 10.0, CALIB, "maximal antigen-driven effector proliferation"),
            ("K_antigen_cells_per_ul", 50.0, "cells/uL", 1e-3, 1e6, ASSUME + " (half-saturation at ~1e10 tumour cells = Kimmel k_B scale x bridge)", "antigen half-saturation (blood-equivalent cells/uL)"),
            ("k_memory_activation_per_day", 0.5, "1/day", 0.0, 10.0, KIROUAC + " (mu_m ~0.3-0.9)", "memory -> effector activation on antigen"),
            ("d_effector_per_day", _CAL["d_effector_per_day"], "1/day", 0.0, 10.0, CALIB + "; start: Stein 2019 alpha 0.16", "effector death (contraction)"),
            ("k_effector_to_memory_per_day", _CAL["k_effector_to_memory_per_day"], "1/day", 0.0, 1.0, CALIB + "; start: Stein 2019 F_B (alpha - beta)", "effector -> memory differentiation"),
            ("d_memory_per_day", 0.0032, "1/day", 0.0, 1.0, STEIN + " (beta)", "memory death"),
            ("k_exhaustion_per_day", 0.05, "1/day", 0.0, 10.0, ASSUME + " (Kirouac k_ex range 0.001-1)", "antigen-driven exhaustion on first engagement"),
            ("k_exhaustion_chronic_per_day", 1.0, "1/day", 0.0, 10.0, ASSUME + " (CAR-T cells under continuous antigen lose function within 2-4 weeks: Good 2021 Cell 184:6081; Wherry 2011 Nat Immunol 12:492)", "extra exhaustion rate once chronic stimulation is established"),
            ("chronic_half_exhaustion", 0.6, "1", 0.01, 1.0, ASSUME + " (above a responder's first-week exposure average, ~0.25 in the reference patient)", "chronic-stimulation level at half the chronic exhaustion rate (Hill coefficient 4, assumption: a switch)"),
            ("chronic_cytokine_imax", 0.99, "1", 0.0, 1.0, ASSUME + " (exhausted T cells lose IFN-gamma production progressively: Wherry 2011 Nat Immunol 12:492; 0.99 with the 10x IFN-gamma release of the engagement lag keeps the chronically stimulated release of v2.0, 0.1 x 20)", "loss of effector cytokine release at full chronic stimulation"),
            ("tau_chronic_stimulation_day", 10.0, "day", 0.5, 100.0, ASSUME + " (exhaustion programs develop over 1-2 weeks of persistent antigen: Wherry 2011; Good 2021 in vitro chronic stimulation for 2-4 weeks)", "time scale of the chronic-stimulation average"),
            ("tau_engagement_day", 3.0, "day", 0.01, 10.0, ASSUME + " (mean of two stages; infused cells traffic to lymph nodes and marrow and reach full effector cytokine secretion over days; CRS onset follows expansion, median day 1-3 after CD28/4-1BB CD19 CAR-T: Hay 2017 Blood 130:2295, Teachey 2016 Cancer Discov 6:664; 3 d chosen so the ZUMA-1 median onset is day 2, 1.5-2 d gave day 1)", "lag between antigen stimulation and cytokine secretion by effector CAR-T cells"),
            ("K_antigen_persistence_cells_per_ul", 0.5, "cells/uL", 1e-6, 1e4, ASSUME + " (2.5e8 tumour cells, a quarter of the ~1 cm3 (1e9 cells) that imaging detects: disease still present)", "antigen level at which half of the persistence signal is on"),
            ("tau_antigen_persistence_day", 60.0, "day", 1.0, 1000.0, ASSUME + " (CAR-T cells facing antigen for 1-3 months become dysfunctional whatever its amount: Good 2021 Cell 184:6081; non-responders' CAR-T cells are exhausted, Deng 2020 Nat Med 26:1878, recalled)", "time scale of the antigen-persistence average"),
            ("antigen_persistence_half", 0.5, "1", 0.01, 1.0, ASSUME + " (a responder whose tumour falls below the persistence level within two weeks stays under ~0.2)", "persistence level at which it drives the chronic-stimulation average half-way to 1 (Hill coefficient 4)"),
            ("chronic_gate_cells_per_ul", 1e-3, "cells/uL", 1e-9, 1.0, ASSUME + " (far below any measured CAR-T level)", "CAR-T level below which the chronic-stimulation average stops following antigen"),
            ("et_competition", _CAL["et_competition"], "1", 0.0, 1e3, CALIB + "; form: De Boer & Perelson 1995 J Theor Biol 175:567 (ratio-dependent stimulation)", "CAR-T cells competing for antigen: weight of E + M in the stimulation's denominator"),
            ("d_exhausted_per_day", 0.1, "1/day", 0.0, 10.0, ASSUME + " (Kirouac d_x range 0.001-1)", "exhausted-cell death"),
            ("k_rejection_per_day", 0.0, "1/day", 0.0, 10.0, "0 for autologous; allogeneic/NK products set it (journey.products)", "host rejection of infused cells"),
            ("dex_prolif_imax", 0.3, "1", 0.0, 1.0, ASSUME + " (Stein 2019 found F_ster ~ 1 in B-ALL; partial effect)", "max inhibition of proliferation by dexamethasone"),
            # --- tumour -----------------------------------------------------------------
            ("r_tumour_per_day", 0.02, "1/day", 0.0, 2.0, KIMMEL + " (r_B range 0.01-0.5)", "antigen-positive tumour growth rate"),
            ("r_tumour_neg_per_day", 0.02, "1/day", 0.0, 2.0, ASSUME + " (same as antigen-positive)", "antigen-negative tumour growth rate"),
            ("tumour_capacity_cells", 1e12, "cells", 1e6, 1e14, ASSUME + " (~1 kg of tumour)", "logistic tumour capacity"),
            ("tumour_infiltration_fraction", 1.0, "1", 1e-4, 1.0, LEON + " (solid tumours: poor infiltration; 1 for blood/marrow/lymph-node disease)", "share of CAR-T effector exposure that reaches tumour cells"),
            ("tme_suppression", 0.0, "1", 0.0, 100.0, LEON + " (tumour-induced CAR-T inactivation alpha1; 0 for haematological disease)", "suppressive micro-environment: divides killing, multiplies exhaustion"),
            ("gamma_kill_per_day", 1.15, "1/day", 0.0, 20.0, KIMMEL + " (gamma_B)", "maximal CAR-T kill rate"),
            ("k_kill_cells_per_ul", 4.05, "cells/uL", 1e-6, 1e4, KIMMEL + " (k_B)", "effector half-saturation of killing"),
            ("tumour_division_rate_per_day", 0.144, "1/day", 0.0, 5.0, "Erlanson 1995 Hematol Oncol 13(4), doi 10.1002/hon.2900130405 (in vivo IdUrd: high-grade NHL mean Tpot 4.8 d; ln2/4.8)", "tumour-cell division rate (birth rate of the birth-death process; death = division - net growth + killing)"),
            ("tumour_extinction_threshold", math.log(2.0), "lineages", 1e-12, 50.0, "per patient a standard exponential draw (P(no lineage survives) = exp(-expected lineages)); ln 2, its median, for the typical patient", "expected surviving lineages below which this patient's tumour is extinct"),
            ("tumour_baseline_cells", 1e10, "cells", 1.0, 1e14, "set per patient (indication baseline)", "tumour at the start of lymphodepletion (reference for M-protein)"),
            # --- normal target cells ------------------------------------------------------
            ("normal_target_baseline_per_ul", 150.0, "cells/uL", 0.0, 5000.0, "Morbach 2010 Clin Exp Immunol 162:271 (adult CD19+ B cells 100-500/uL)", "normal target cells at steady state"),
            ("d_normal_target_per_day", 0.02, "1/day", 1e-4, 5.0, HOSSEINI + " (kBapop)", "normal target-cell turnover"),
            ("normal_target_antigen_weight", 0.1, "1", 0.0, 1.0, ASSUME + " (B-cell recovery goes with loss of CAR-T, Mueller 2017 Blood 130:2317, but normal cells alone rarely re-expand them)", "stimulation by a normal target cell relative to a tumour cell"),
            ("gamma_kill_normal_per_day", 3.0, "1/day", 0.0, 50.0, ASSUME + " (CD19+ B cells disappear from blood within ~1-2 weeks of expansion: Kochenderfer 2012 Blood 119:2709; own rate, not the tumour-killing handle)", "maximal CAR-T kill rate of normal target cells"),
            ("k_kill_normal_cells_per_ul", 0.05, "cells/uL", 1e-6, 1e4, ASSUME + " (blood/marrow B cells are fully accessible)", "CAR-T half-saturation for killing normal target cells"),
            ("memory_kill_weight", 1.0, "1", 0.0, 1.0, ASSUME, "killing weight of memory CAR-T relative to effectors (normal cells)"),
            # --- cytokines ---------------------------------------------------------------
            ("ifng_baseline_pg_per_ml", 2.0, "pg/mL", 0.0, 1e3, ASSUME + " (healthy serum IFN-g < 5 pg/mL)", "baseline IFN-gamma"),
            ("ifng_half_life_day", 4.0 / 24.0, "day", 1e-3, 10.0, ASSUME + " (plasma half-life of hours)", "IFN-gamma half-life"),
            ("p_ifng_pg_per_ml_per_cell_ul_day", 200.0, "pg/mL/day per cells/uL", 0.0, 1e6, ASSUME + " (typical peak IFN-g ~10-100 pg/mL)", "IFN-gamma release per antigen-engaged effector"),
            ("ifng_myeloid_threshold_pg_per_ml", 5.0, "pg/mL", 0.0, 1e3, ASSUME + " (serum IFN-gamma within ~5 pg/mL of its healthy level, < 5 pg/mL, is not an inflammatory signal: clinical reference range)", "IFN-gamma excess over baseline below which macrophages are not activated"),
            ("K_ifng_myeloid_pg_per_ml", 50.0, "pg/mL", 1e-3, 1e6, ASSUME, "IFN-gamma half-activation of myeloid cells"),
            ("k_myeloid_on_per_day", 1.5, "1/day", 0.0, 100.0, ASSUME + " (Santurio 2025 macrophage activation)", "myeloid activation rate"),
            ("k_myeloid_off_per_day", 0.5, "1/day", 0.0, 100.0, ASSUME, "myeloid deactivation rate"),
            ("K_damage_cells_per_day", 5e10, "cells/day", 1.0, 1e14, ASSUME + " (Santurio 2025: DAMPs from killed tumour; Hill 2 so signals follow expansion)", "tumour kill flux giving half-maximal damage signal"),
            ("damage_weight", 0.01, "1", 0.0, 10.0, ASSUME, "weight of damage signals vs IFN-gamma on myeloid activation"),
            ("il6_baseline_pg_per_ml", 5.0, "pg/mL", 0.0, 1e3, "healthy serum IL-6 < 7 pg/mL (clinical reference range)", "baseline IL-6"),
            ("il6_half_life_day", 20.0 / 1440.0, "day", 1e-4, 1.0, HOSSEINI + " (thalfIL6 20 min)", "IL-6 half-life without tocilizumab"),
            ("p_il6_myeloid_pg_per_ml_day", 2.0e4, "pg/mL/day", 0.0, 1e8, ASSUME + " (typical peak IL-6 ~10^2 pg/mL, severe CRS ~10^3-10^4)", "IL-6 release at full myeloid activation"),
            ("il6_receptor_clearance_fraction", 0.75, "1", 0.0, 1.0, ASSUME + " (Nishimoto 2008: serum IL-6 rises several-fold on tocilizumab)", "share of IL-6 clearance through IL-6R"),
            ("EC50_il6_signal_pg_per_ml", 100.0, "pg/mL", 1e-3, 1e5, ASSUME, "IL-6 giving half-maximal inflammatory signalling"),
            ("crp_half_life_day", 19.0 / 24.0, "day", 0.01, 10.0, "Pepys & Hirschfield 2003 J Clin Invest 111:1805 (CRP t1/2 19 h)", "CRP half-life"),
            ("crp_max_mg_per_l", 300.0, "mg/L", 1.0, 2000.0, ASSUME + " (CRP in severe CRS 200-400 mg/L)", "CRP at full IL-6 signalling"),
            ("k_endothelial_on_per_day", 0.6, "1/day", 0.0, 100.0, ASSUME + " (Gust 2017: endothelial activation lags CRS)", "endothelial activation rate"),
            ("k_endothelial_off_per_day", 0.35, "1/day", 0.0, 100.0, ASSUME, "endothelial recovery rate"),
            ("k_neurovascular_on_per_day", 1.0, "1/day", 0.0, 1000.0, ASSUME + " (ICANS follows CRS by ~2-4 days, Gust 2017 Cancer Discov 7:1404; Santomasso 2018 Cancer Discov 8:958: BBB disruption with CSF cytokines)", "neurovascular (blood-brain-barrier) activation rate per unit endothelial activation"),
            ("k_neurovascular_off_per_day", 0.3, "1/day", 0.0, 100.0, ASSUME + " (ASTCT ICANS resolves over days to ~2 weeks: Neelapu 2017 NEJM 377:2531, median NE duration 17 d on CTCAE)", "neurovascular recovery rate"),
            ("K_il6_endothelial_pg_per_ml", 300.0, "pg/mL", 1e-3, 1e6, ASSUME, "serum IL-6 half-activating endothelium"),
            ("dex_cytokine_imax", 0.9, "1", 0.0, 1.0, ASSUME, "max inhibition of cytokine release/endothelial activation by dexamethasone"),
            ("dex_neurovascular_imax", 0.5, "1", 0.0, 1.0, ASSUME + " (v2.3; steroids act on cytokine release and endothelium; the blood-brain barrier repairs over days: Gust 2017 Cancer Discov 7:1404, recalled: BBB disruption with high CSF protein in severe neurotoxicity)", "max inhibition of neurovascular (blood-brain-barrier) activation by dexamethasone"),
            ("IC50_dex_ng_per_ml", 2.0, "ng/mL", 1e-3, 1e4, ASSUME + " (glucocorticoid IC50 ~ nM for T-cell cytokines)", "dexamethasone half-inhibitory concentration"),
            # --- drugs ------------------------------------------------------------------
            ("toci_CL_l_per_day", 0.3, "L/day", 1e-3, 10.0, FREY, "tocilizumab linear clearance"),
            ("toci_V1_l", 3.5, "L", 0.1, 50.0, FREY, "tocilizumab central volume"),
            ("toci_Q_l_per_day", 0.2, "L/day", 1e-3, 10.0, FREY, "tocilizumab intercompartmental clearance"),
            ("toci_V2_l", 2.9, "L", 0.1, 50.0, FREY, "tocilizumab peripheral volume"),
            ("toci_Vmax_mg_per_day", 7.5, "mg/day", 0.0, 100.0, FREY, "tocilizumab saturable elimination capacity"),
            ("toci_Km_ug_per_ml", 2.7, "ug/mL", 1e-3, 100.0, FREY, "tocilizumab saturable elimination Km"),
            ("toci_EC50_ug_per_ml", 1.0, "ug/mL", 1e-4, 100.0, ASSUME + " (Nishimoto 2008: sIL-6R saturated above ~1 ug/mL)", "tocilizumab concentration blocking half of IL-6R"),
            ("dex_CL_l_per_day", 9.29 * 24, "L/day", 1.0, 2000.0, KRZ, "dexamethasone clearance"),
            ("dex_Vc_l", 51.3, "L", 1.0, 500.0, KRZ, "dexamethasone central volume"),
            ("dex_Q_l_per_day", 0.538 * 24, "L/day", 0.0, 1000.0, KRZ, "dexamethasone intercompartmental clearance"),
            ("dex_Vp_l", 5.06, "L", 0.1, 500.0, KRZ, "dexamethasone peripheral volume"),
            ("flu_CL_l_per_day", (3.2 + 0.78 * 6.0) * 24, "L/day", 1.0, 2000.0, LANG + " (eGFR 100 mL/min = 6 L/h, 70 kg)", "F-ara-A clearance"),
            ("flu_V1_l", 39.0, "L", 1.0, 500.0, LANG, "F-ara-A central volume"),
            ("flu_V2_l", 20.0, "L", 1.0, 500.0, LANG, "F-ara-A shallow peripheral volume"),
            ("flu_V3_l", 50.0, "L", 1.0, 500.0, LANG, "F-ara-A deep peripheral volume"),
            ("flu_Q2_l_per_day", 8.6 * 24, "L/day", 0.0, 2000.0, LANG, "F-ara-A clearance to shallow compartment"),
            ("flu_Q3_l_per_day", 3.8 * 24, "L/day", 0.0, 2000.0, LANG, "F-ara-A clearance to deep compartment"),
            ("cy_half_life_day", 7.0 / 24.0, "day", 0.01, 5.0, "de Jonge 2005 Clin Pharmacokinet 44:1135 (t1/2 3-12 h)", "cyclophosphamide half-life"),
            ("cy_V_l", 0.7 * 70, "L", 1.0, 500.0, "de Jonge 2005 (Vd ~0.7 L/kg, 70 kg)", "cyclophosphamide volume"),
            ("flu_EC_mg_per_l", 0.5, "mg/L", 1e-4, 100.0, ASSUME + " (F-ara-A peak ~1 mg/L after 30 mg/m2)", "F-ara-A concentration scaling lymphotoxicity"),
            ("cy_EC_mg_per_l", 20.0, "mg/L", 1e-4, 1e4, ASSUME + " (Cmax ~30-50 mg/L after 500 mg/m2)", "cyclophosphamide concentration scaling lymphotoxicity"),
            ("k_lymphodepletion_per_day", _CAL["k_lymphodepletion_per_day"], "1/day", 0.0, 100.0, CALIB + " (host T cells 500 -> ~6 cells/uL at day 0, Kimmel N0)", "lymphocyte kill rate per unit LD exposure"),
            ("tumour_ld_sensitivity", 0.05, "1", 0.0, 1.0, ASSUME, "tumour kill by LD relative to lymphocytes"),
            # --- observation bridges ------------------------------------------------------
            ("vector_copies_per_cell", 2.0, "copies/cell", 0.1, 20.0, "FDA labels: tisa-cel/axi-cel VCN ~1-3 copies per transduced cell", "transgene copies per CAR-T cell"),
            ("non_neutrophil_myeloid_per_ul", 600.0, "cells/uL", 10.0, 1e5, ASSUME + " (monocytes ~200-800/uL plus eosinophils and basophils ~100-300/uL, adult reference ranges; they recover within days of Flu/Cy)", "leukocytes other than lymphocytes and neutrophils in blood (the rest of the transgene assay's DNA)"),
            ("m_protein_baseline_g_per_dl", 0.0, "g/dL", 0.0, 20.0, "set per patient (myeloma only)", "serum M-protein at baseline"),
            ("m_protein_half_life_day", 21.0, "day", 1.0, 100.0, "IgG half-life ~21 days (Morell 1970 J Clin Invest 49:673)", "M-protein half-life"),
            # --- haematopoiesis (Friberg 2002 semi-mechanistic myelosuppression model) ------
            ("anc_baseline_per_ul", 3000.0, "cells/uL", 10.0, 5e4, "set per patient (baseline ANC)", "neutrophils at baseline"),
            ("neut_mtt_day", 125.0 / 24.0, "day", 0.5, 30.0, FRIBERG + " (MTT 125 h)", "neutrophil mean maturation time"),
            ("platelets_baseline_per_nl", 200.0, "10^9/L", 1.0, 2000.0, "set per patient (baseline platelets)", "platelets at baseline"),
            ("plt_mtt_day", 8.0, "day", 0.5, 40.0, ASSUME + " (platelet MTT ~ 7-9 d in Friberg-type models)", "platelet mean maturation time"),
            ("marrow_feedback_gamma", 0.17, "1", 0.0, 2.0, FRIBERG + " (gamma)", "feedback of circulating cells on proliferation"),
            ("ld_marrow_slope", 0.8, "1 per unit LD exposure", 0.0, 10.0, ASSUME + " (grade 3-4 neutropenia after Flu/Cy in >90% of patients, KarMMa/CARTITUDE-1)", "marrow toxicity of lymphodepletion"),
            ("stem_toxicity_ld", 0.06, "1/day per unit LD exposure", 0.0, 10.0, ASSUME + " (prolonged or biphasic cytopenia after Flu/Cy + CAR-T in ~30-40 % at day 28: JULIET, KarMMa; baseline reserve and inflammation predict it: Rejeski 2021 Blood 138:2499 CAR-HEMATOTOX; value set so a typical patient keeps ANC > 1,000/uL at day 28)", "stem/progenitor injury by lymphodepletion"),
            ("stem_toxicity_inflammation", 0.06, "1/day", 0.0, 10.0, ASSUME + " (IFN-gamma/inflammation suppress haematopoietic stem cells: Rejeski 2023 Blood 142:865; severe CRS predicts prolonged cytopenia)", "stem/progenitor injury per unit myeloid activation"),
            ("stem_recovery_half_life_day", 21.0, "day", 1.0, 365.0, ASSUME + " (most late cytopenias resolve within 1-3 months: Fried 2019 BMT 54:1643; Rejeski 2023)", "half-life of stem/progenitor reserve recovery"),
            ("inflammation_marrow_slope", 0.3, "1", 0.0, 5.0, ASSUME + " (inflammatory marrow suppression: Rejeski 2021 Blood 138:2499)", "marrow suppression by myeloid activation"),
            ("igg_baseline_g_per_l", 9.0, "g/L", 0.1, 50.0, "set per patient (normal 7-16 g/L)", "serum IgG at baseline"),
            ("igg_half_life_day", 21.0, "day", 1.0, 100.0, "Morell 1970 J Clin Invest 49:673 (IgG t1/2 ~21 d)", "IgG half-life"),
            ("igg_target_independent_fraction", 0.6, "1", 0.0, 1.0, ASSUME + " (CD19-negative long-lived plasma cells keep making IgG after CD19 CAR-T)", "IgG production not depending on CAR target cells"),
        ]
    )

    observables_spec = (
        Observable("car_t_per_ul", "cells/uL", "CAR-T cells in blood (E + M + X)"),
        Observable("car_effector_per_ul", "cells/uL", "effector CAR-T"),
        Observable("car_memory_per_ul", "cells/uL", "memory CAR-T"),
        Observable("car_exhausted_per_ul", "cells/uL", "exhausted CAR-T"),
        Observable("transgene_copies_per_ug", "copies/ug gDNA", "blood transgene level (qPCR)"),
        Observable("host_t_cells_per_ul", "cells/uL", "host T lymphocytes"),
        Observable("tumor_cells", "cells", "total tumour cells"),
        Observable("tumor_antigen_neg_cells", "cells", "antigen-negative tumour cells"),
        Observable("b_cells_per_ul", "cells/uL", "normal target-bearing cells (B cells for CD19)"),
        Observable("il6_pg_per_ml", "pg/mL", "serum IL-6"),
        Observable("ifng_pg_per_ml", "pg/mL", "serum IFN-gamma"),
        Observable("crp_mg_per_l", "mg/L", "C-reactive protein"),
        Observable("fever_driver", "1", "IL-6 signalling through unblocked IL-6R (0-1)"),
        Observable("icans_driver", "1", "neurovascular (blood-brain-barrier) activation (0-1)"),
        Observable("capillary_leak_driver", "1", "systemic endothelial activation (0-1): hypotension and hypoxia"),
        Observable("tocilizumab_ug_per_ml", "ug/mL", "serum tocilizumab"),
        Observable("dexamethasone_ng_per_ml", "ng/mL", "plasma dexamethasone"),
        Observable("m_protein_g_per_dl", "g/dL", "serum M-protein"),
        Observable("anc_per_ul", "cells/uL", "absolute neutrophil count"),
        Observable("platelets_per_nl", "10^9/L", "platelet count"),
        Observable("igg_g_per_l", "g/L", "serum IgG"),
        Observable("myeloid_activation", "1", "activated monocyte/macrophage fraction"),
    )

    # ------------------------------------------------------------------------------------
    def rhs(self, t, y, p, xp=np):
        (n, e, m, x, tp, tn, bn, ifng, mac, il6, endo, crp,
         tc, tpe, dc, dpe, f1, f2, f3, cy, mprot,
         np0, nt1, nt2, nt3, anc, pp0, pt1, pt2, pt3, plt, igg, chronic, neuro, primed, engaged, reserve, lineages, persistence) = y

        # Drug concentrations and effects.
        toci = tc / p.toci_V1_l  # mg/L == ug/mL
        blockade = toci / (toci + p.toci_EC50_ug_per_ml)
        dex = 1000.0 * dc / p.dex_Vc_l  # ng/mL
        dex_effect = dex / (dex + p.IC50_dex_ng_per_ml)
        ld_exposure = f1 / p.flu_V1_l / p.flu_EC_mg_per_l + cy / p.cy_V_l / p.cy_EC_mg_per_l
        ld_kill = p.k_lymphodepletion_per_day * ld_exposure

        # Homeostatic niche (Kimmel 2021).
        car = e + m + x
        total = xp.maximum(n + car, 1e-12)
        dev = total - p.K_N_cells_per_ul
        r_c = p.rho_C_per_day + p.b_homeostatic_per_day * dev * dev / (
            p.a_homeostatic * total * total + dev * dev
        )
        homeostatic = -p.homeostatic_scale * r_c * xp.log(total / p.K_C_cells_per_ul)

        # Antigen stimulation (tumour bridged to blood-equivalent cells/uL, plus normal targets).
        # Solid tumours: only the infiltrating share of effectors meets tumour antigen and kills.
        # v2: ratio-dependent (De Boer & Perelson 1995): stimulation per CAR-T cell falls as
        # functional CAR-T cells outnumber their targets, so antigen, not the niche, sets the peak.
        tumour_antigen = p.tumour_infiltration_fraction * tp / BODY_LYMPHOID_VOLUME_UL
        antigen = tumour_antigen + p.normal_target_antigen_weight * bn
        stim = antigen / (p.K_antigen_cells_per_ul + antigen + p.et_competition * (e + m))

        prolif = p.k_prolif_per_day * stim * (1.0 - p.dex_prolif_imax * dex_effect)
        activation = p.k_memory_activation_per_day * stim
        # v2: exhaustion under persistent antigen. Exposure is the antigen a CAR-T cell in the
        # tumour meets, however many cells share it (no E:T term): its running average over
        # ~1-2 weeks (``chronic``) drives exhaustion and, below, the loss of cytokine release.
        # A responder whose tumour falls within days stays fit; bulky, slowly killed disease
        # exhausts its CAR-T cells within weeks (a mechanistic form of Stein 2019's T_max switch).
        exposure = antigen / (p.K_antigen_cells_per_ul + antigen)
        # The chronic term switches on (Hill) only where exposure has stayed high for weeks —
        # progressing or relapsing disease — not during a responder's first week.
        # Hill coefficient 4 written as products: a power with a parameter exponent has a
        # derivative chronic^h / chronic, undefined at rest (chronic = 0) in the exact Jacobian.
        z2 = chronic * chronic
        half2 = p.chronic_half_exhaustion * p.chronic_half_exhaustion
        chronic_switch = z2 * z2 / (z2 * z2 + half2 * half2)
        # v2.2: exhaustion also follows how *long* antigen has persisted, not only how much: a
        # tumour that CAR-T cells kill slowly can sit at 1e9-1e10 cells for months, an exposure
        # below the level switch above, and without this term its CAR-T cells stayed fully
        # functional, with IL-6 ~50 pg/mL (a low-grade CRS) until progression (Good 2021: CAR-T
        # cells facing antigen for weeks become dysfunctional whatever its amount). ``persistence``
        # averages a low-threshold "antigen present" signal over ~2 months.
        # Tumour antigen only: normal B/plasma cells re-stimulate CAR-T cells physiologically
        # (B-cell aplasia goes with long persistence), they do not drive the exhaustion program.
        present = tumour_antigen / (p.K_antigen_persistence_cells_per_ul + tumour_antigen)
        q2 = persistence * persistence
        qhalf2 = p.antigen_persistence_half * p.antigen_persistence_half
        persistence_switch = q2 * q2 / (q2 * q2 + qhalf2 * qhalf2)
        # Long persistence acts through the chronic-stimulation average, as a second input to it
        # (either the level or the duration of antigen drives the one exhaustion program): the
        # exhaustion and cytokine-loss terms keep their single input, so the IFN-gamma and
        # effector rows of the Jacobian keep their structure (and the sparse LU its stable order).
        chronic_drive = 1.0 - (1.0 - exposure) * (1.0 - persistence_switch)
        exhaustion = (p.k_exhaustion_per_day * stim + p.k_exhaustion_chronic_per_day * chronic_switch) * (1.0 + p.tme_suppression)
        # Averaged over the CAR-T cells' own exposure: it stays at rest before the infusion.
        car_present = (e + m) / (e + m + p.chronic_gate_cells_per_ul)
        dchronic = car_present * (chronic_drive - chronic) / p.tau_chronic_stimulation_day
        dpersistence = car_present * (present - persistence) / p.tau_antigen_persistence_day
        # v2: effectors secrete cytokines once engaged, a lag behind stimulation: infused cells
        # reach the disease sites and full effector function over a day or two, so CRS follows
        # expansion rather than the infusion itself (killing, by contrast, is immediate).
        # Two stages (a gamma-distributed delay, mean tau_engagement_day), as in transit models.
        # Like the chronic average, it starts at infusion (gated by the CAR-T cells' presence);
        # the cells of a second infusion share the engagement of those already there.
        k_engage = 2.0 / p.tau_engagement_day
        dprimed = car_present * k_engage * (stim - primed)
        dengaged = car_present * k_engage * (primed - engaged)
        rej = p.k_rejection_per_day

        dn = -p.r_N_per_day * n * xp.log(total / p.K_N_cells_per_ul) - ld_kill * n
        de = (
            (homeostatic + prolif - p.d_effector_per_day - p.k_effector_to_memory_per_day - exhaustion - ld_kill - rej) * e
            + activation * m
        )
        dm = (homeostatic - activation - p.d_memory_per_day - ld_kill - rej) * m + p.k_effector_to_memory_per_day * e
        dx = exhaustion * e - (p.d_exhausted_per_day + rej) * x

        # Tumour.
        infiltrating = p.tumour_infiltration_fraction * e
        kill_rate = p.gamma_kill_per_day * infiltrating / (p.k_kill_cells_per_ul + infiltrating) / (1.0 + p.tme_suppression)
        crowding = 1.0 - (tp + tn) / p.tumour_capacity_cells
        ld_tumour = p.tumour_ld_sensitivity * ld_kill
        dtp = (p.r_tumour_per_day * crowding - kill_rate - ld_tumour) * tp
        dtn = (p.r_tumour_neg_per_day * crowding - ld_tumour) * tn
        # v2.2: stochastic extinction (Kimmel 2021: durable responses are tumours whose last
        # cells die out by chance at the nadir). The antigen-positive tumour is a linear
        # birth-death process: division b, death d = b - net growth + killing. Kendall (1948):
        # the expected number of initial lineages still alive, L, obeys dL/dt = -d L^2 / T+
        # (a lineage of mean size T+/L dies at rate d / size), and P(none alive) = exp(-L).
        # Tracking L / (the patient's Exp(1) threshold) and extinguishing at 1 samples that event.
        cell_death = xp.maximum(p.tumour_division_rate_per_day - p.r_tumour_per_day * crowding, 0.0) + kill_rate + ld_tumour
        lineage_share = xp.minimum(lineages * p.tumour_extinction_threshold / xp.maximum(tp, 1e-12), 1.0)
        dlineages = -cell_death * lineage_share * lineages

        # Normal target cells: marrow production, turnover, CAR-T killing.
        killers = e + p.memory_kill_weight * m
        # v2: own rate (normal B/plasma cells are not protected by a tumour micro-environment).
        normal_kill = p.gamma_kill_normal_per_day * killers / (p.k_kill_normal_cells_per_ul + killers)
        dbn = p.d_normal_target_per_day * (p.normal_target_baseline_per_ul - bn) - (normal_kill + ld_kill) * bn

        # Cytokines.
        cyto_scale = 1.0 - p.dex_cytokine_imax * dex_effect
        k_ifng = LN2 / p.ifng_half_life_day
        # v2: chronically stimulated effectors lose cytokine production before they lose
        # their phenotype (Wherry 2011: IL-2, then TNF, then IFN-gamma), so inflammation ends
        # under persistent antigen even where the cells remain.
        functional = 1.0 - p.chronic_cytokine_imax * chronic
        difng = k_ifng * (p.ifng_baseline_pg_per_ml - ifng) + p.p_ifng_pg_per_ml_per_cell_ul_day * engaged * e * cyto_scale * functional
        kill_flux = kill_rate * tp
        # Hill 2: damage signals need substantial killing (CAR-T expansion), not the first hours.
        damage = kill_flux * kill_flux / (kill_flux * kill_flux + p.K_damage_cells_per_day * p.K_damage_cells_per_day)
        # Drives use cytokine excess over baseline: at baseline the cascade is at rest.
        # v2: macrophages respond to IFN-gamma some pg/mL above baseline, not to the trickle a
        # few residual CAR-T cells release months later (which, with IL-6 release at the
        # calibrated high end, kept progressing ZUMA-2 patients febrile after day 30).
        ifng_excess = xp.maximum(ifng - p.ifng_baseline_pg_per_ml - p.ifng_myeloid_threshold_pg_per_ml, 0.0)
        il6_excess = xp.maximum(il6 - p.il6_baseline_pg_per_ml, 0.0)
        ifng_drive = ifng_excess / (ifng_excess + p.K_ifng_myeloid_pg_per_ml)
        drive = ifng_drive + p.damage_weight * damage
        dmac = p.k_myeloid_on_per_day * drive * cyto_scale * (1.0 - mac) - p.k_myeloid_off_per_day * mac
        k_il6 = LN2 / p.il6_half_life_day
        clearance = k_il6 * (1.0 - p.il6_receptor_clearance_fraction * blockade)
        dil6 = (
            k_il6 * p.il6_baseline_pg_per_ml
            + p.p_il6_myeloid_pg_per_ml_day * mac * cyto_scale
            - clearance * il6
        )
        signal = il6 / (il6 + p.EC50_il6_signal_pg_per_ml) * (1.0 - blockade)
        k_crp = LN2 / p.crp_half_life_day
        dcrp = k_crp * (p.crp_max_mg_per_l * signal - crp)
        # v2.2: endothelial cells sense IL-6 through the same (membrane and trans-signalling)
        # IL-6 receptor that tocilizumab blocks, so the serum IL-6 rise after tocilizumab does
        # not activate them (Kang 2020 PNAS 117:22351, recalled: IL-6 trans-signalling drives endothelial
        # activation in CRS and tocilizumab blocks it; Nishimoto 2008 on the rise); before v2.2 it did, and severe CRS outlasted tocilizumab.
        endo_drive = (1.0 - blockade) * il6_excess / (il6_excess + p.K_il6_endothelial_pg_per_ml) + ifng_drive
        dendo = p.k_endothelial_on_per_day * endo_drive * cyto_scale * (1.0 - endo) - p.k_endothelial_off_per_day * endo
        # v2: the neurovascular unit follows systemic endothelial activation with its own time
        # scale (Gust 2017: endothelial activation and BBB disruption in severe neurotoxicity),
        # so ICANS lags CRS, can outlast it and can follow tocilizumab's IL-6 rise.
        # v2.3: dexamethasone damps the neurovascular drive less than cytokine release
        # (dex_neurovascular_imax 0.5 against 0.9; assumption): it acts upstream, through the
        # endothelium, and the barrier repairs on its own time scale. At 0.9, a steroid course
        # ended ICANS within 1-2 days of the peak (median 6 d against 11-17 d in LBCL) and
        # grade-2 dexamethasone stopped nearly every patient before ICE <= 2 (TRANSCEND,
        # ZUMA-2 grade >= 3 ICANS 0-2 % against 10 % and 31-37 %).
        dneuro = p.k_neurovascular_on_per_day * endo * (1.0 - p.dex_neurovascular_imax * dex_effect) * (1.0 - neuro) - p.k_neurovascular_off_per_day * neuro

        # Drugs.
        dtc = (
            -(p.toci_CL_l_per_day + p.toci_Q_l_per_day) / p.toci_V1_l * tc
            - p.toci_Vmax_mg_per_day * toci / (p.toci_Km_ug_per_ml + toci)
            + p.toci_Q_l_per_day / p.toci_V2_l * tpe
        )
        dtpe = p.toci_Q_l_per_day / p.toci_V1_l * tc - p.toci_Q_l_per_day / p.toci_V2_l * tpe
        ddc = -(p.dex_CL_l_per_day + p.dex_Q_l_per_day) / p.dex_Vc_l * dc + p.dex_Q_l_per_day / p.dex_Vp_l * dpe
        ddpe = p.dex_Q_l_per_day / p.dex_Vc_l * dc - p.dex_Q_l_per_day / p.dex_Vp_l * dpe
        df1 = (
            -(p.flu_CL_l_per_day + p.flu_Q2_l_per_day + p.flu_Q3_l_per_day) / p.flu_V1_l * f1
            + p.flu_Q2_l_per_day / p.flu_V2_l * f2
            + p.flu_Q3_l_per_day / p.flu_V3_l * f3
        )
        df2 = p.flu_Q2_l_per_day / p.flu_V1_l * f1 - p.flu_Q2_l_per_day / p.flu_V2_l * f2
        df3 = p.flu_Q3_l_per_day / p.flu_V1_l * f1 - p.flu_Q3_l_per_day / p.flu_V3_l * f3
        dcy = -LN2 / p.cy_half_life_day * cy

        # M-protein follows tumour with IgG turnover.
        k_m = LN2 / p.m_protein_half_life_day
        dmprot = k_m * (p.m_protein_baseline_g_per_dl * (tp + tn) / p.tumour_baseline_cells - mprot)

        # Marrow (Friberg 2002): LD exposure and inflammation suppress proliferation.
        marrow_hit = xp.minimum(p.ld_marrow_slope * ld_exposure + p.inflammation_marrow_slope * mac, 0.99)
        # v2: a slow stem/progenitor reserve, injured by lymphodepletion and inflammation and
        # recovering over weeks, scales proliferation: prolonged and biphasic cytopenia after the
        # transit compartments have recovered (Friberg's model alone recovers by ~day 21).
        k_stem = LN2 / p.stem_recovery_half_life_day
        dreserve = k_stem * (1.0 - reserve) - (p.stem_toxicity_ld * ld_exposure + p.stem_toxicity_inflammation * mac) * reserve
        k_n = 4.0 / p.neut_mtt_day
        fb_n = (p.anc_baseline_per_ul / xp.maximum(anc, 1e-3)) ** p.marrow_feedback_gamma
        dnp0 = k_n * np0 * (reserve * (1.0 - marrow_hit) * fb_n - 1.0)
        dnt1 = k_n * (np0 - nt1)
        dnt2 = k_n * (nt1 - nt2)
        dnt3 = k_n * (nt2 - nt3)
        danc = k_n * (nt3 - anc)
        k_p = 4.0 / p.plt_mtt_day
        fb_p = (p.platelets_baseline_per_nl / xp.maximum(plt, 1e-3)) ** p.marrow_feedback_gamma
        dpp0 = k_p * pp0 * (reserve * (1.0 - marrow_hit) * fb_p - 1.0)
        dpt1 = k_p * (pp0 - pt1)
        dpt2 = k_p * (pt1 - pt2)
        dpt3 = k_p * (pt2 - pt3)
        dplt = k_p * (pt3 - plt)

        # IgG: production partly from CAR-target cells (B cells / plasma cells).
        k_igg = LN2 / p.igg_half_life_day
        source = p.igg_target_independent_fraction + (1.0 - p.igg_target_independent_fraction) * bn / xp.maximum(p.normal_target_baseline_per_ul, 1e-12)
        digg = k_igg * (p.igg_baseline_g_per_l * source - igg)

        return (dn, de, dm, dx, dtp, dtn, dbn, difng, dmac, dil6, dendo, dcrp,
                dtc, dtpe, ddc, ddpe, df1, df2, df3, dcy, dmprot,
                dnp0, dnt1, dnt2, dnt3, danc, dpp0, dpt1, dpt2, dpt3, dplt, digg, dchronic, dneuro, dprimed, dengaged, dreserve, dlineages, dpersistence)

    # ------------------------------------------------------------------------------------
    def initial_state(self, p, n_patients):
        y0 = super().initial_state(p, n_patients)
        get = self.state_index
        y0[get("host_t")] = p.K_N_cells_per_ul
        y0[get("normal_target")] = p.normal_target_baseline_per_ul
        y0[get("il6")] = p.il6_baseline_pg_per_ml
        y0[get("ifng")] = p.ifng_baseline_pg_per_ml
        y0[get("tumour_pos")] = p.tumour_baseline_cells
        y0[get("tumour_lineages")] = p.tumour_baseline_cells / p.tumour_extinction_threshold
        y0[get("m_protein")] = p.m_protein_baseline_g_per_dl
        for name in ("neut_prolif", "neut_transit1", "neut_transit2", "neut_transit3", "neutrophils"):
            y0[get(name)] = p.anc_baseline_per_ul
        for name in ("plt_prolif", "plt_transit1", "plt_transit2", "plt_transit3", "platelets"):
            y0[get(name)] = p.platelets_baseline_per_nl
        y0[get("igg")] = p.igg_baseline_g_per_l
        il6 = np.asarray(p.il6_baseline_pg_per_ml, dtype=float)
        y0[get("crp")] = p.crp_max_mg_per_l * il6 / (il6 + p.EC50_il6_signal_pg_per_ml)
        return y0

    def observables(self, t, y, p):
        s = dict(zip(self.state_names(), y, strict=False))
        car = s["car_effector"] + s["car_memory"] + s["car_exhausted"]
        # v2: the assay's genomic DNA comes from all blood leukocytes, whose count falls after
        # lymphodepletion (modelled neutrophils, not v1's fixed 2,500/uL): at the CAR-T peak
        # (days 7-14) neutropenia concentrates the transgene per ug of DNA.
        leukocytes = s["host_t"] + car + s["normal_target"] + s["neutrophils"] + p.non_neutrophil_myeloid_per_ul
        toci = s["toci_central"] / p.toci_V1_l
        blockade = toci / (toci + p.toci_EC50_ug_per_ml)
        il6 = s["il6"]
        return {
            "car_t_per_ul": car,
            "car_effector_per_ul": s["car_effector"],
            "car_memory_per_ul": s["car_memory"],
            "car_exhausted_per_ul": s["car_exhausted"],
            "transgene_copies_per_ug": car / leukocytes * CELLS_PER_UG_GDNA * p.vector_copies_per_cell,
            "host_t_cells_per_ul": s["host_t"],
            "tumor_cells": s["tumour_pos"] + s["tumour_neg"],
            "tumor_antigen_neg_cells": s["tumour_neg"],
            "b_cells_per_ul": s["normal_target"],
            "il6_pg_per_ml": il6,
            "ifng_pg_per_ml": s["ifng"],
            "crp_mg_per_l": s["crp"],
            "fever_driver": il6 / (il6 + p.EC50_il6_signal_pg_per_ml) * (1.0 - blockade),
            "icans_driver": s["neurovascular_activation"],
            "capillary_leak_driver": s["endothelial_activation"],
            "tocilizumab_ug_per_ml": toci,
            "dexamethasone_ng_per_ml": 1000.0 * s["dex_central"] / p.dex_Vc_l,
            "m_protein_g_per_dl": s["m_protein"],
            "anc_per_ul": s["neutrophils"],
            "platelets_per_nl": s["platelets"],
            "igg_g_per_l": s["igg"],
            "myeloid_activation": s["myeloid_activation"],
        }

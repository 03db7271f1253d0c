"""``cartwin simulate`` (one patient's course), ``cartwin presets`` and ``cartwin demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import check_options, console, print_table, user_errors


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.command("presets")(presets)
    if "demo" not in {c.name for c in app.registered_commands}:
        app.command("demo")(demo)


def simulate(
    product: str = typer.Option("axi-cel", help="Product key (see `cartwin presets`)."),
    indication: str = typer.Option("lbcl", help="Indication key (see `cartwin presets`)."),
    dose: str = typer.Option(None, help="CAR-T dose, e.g. '2e6/kg' or '1e8' cells; default: the product's labelled dose."),
    days: float = typer.Option(365.0, help="Follow-up after infusion (days)."),
    seed: int = typer.Option(0, help="Seed recorded in provenance (the typical patient has no random draw)."),
    weight_kg: float = typer.Option(70.0, help="Body weight (kg)."),
    height_cm: float = typer.Option(170.0, help="Height (cm)."),
    tumour_cells: float = typer.Option(None, help="Baseline tumour cells; default: the indication's typical burden."),
    antigen_negative_fraction: float = typer.Option(None, help="Fraction of tumour cells lacking the target antigen."),
    no_lymphodepletion: bool = typer.Option(False, "--no-lymphodepletion", help="Skip fludarabine/cyclophosphamide."),
    policy: str = typer.Option("astct-consensus", help="Management policy: astct-consensus, severe-crs-only, penn-chop, lee-2014 (needs --age-years), prophylactic-tocilizumab, early-steroids or none."),
    age_years: float = typer.Option(None, "--age-years", help="Age (years); the lee-2014 policy gives tocilizumab at CRS grade 2 to patients over 60."),
    rtol: float = typer.Option(1e-6, help="Relative tolerance of the solver."),
    out: Path = typer.Option(Path("cartwin-output"), help="Output directory."),
    nonmem: Path = typer.Option(None, "--nonmem", help="Also write the transgene level at the ELIANA-like qPCR days as a NONMEM-format CSV (read by `cartwin fit`)."),
) -> None:
    """Simulate one patient's course: lymphodepletion, infusion (day 0) and follow-up."""
    import numpy as np

    from cartwin.clinic.observe import ObservationSchedule
    from cartwin.clinic.policy import make_policy
    from cartwin.foundation.units import parse_dose
    from cartwin.model.dosing import NO_LYMPHODEPLETION
    from cartwin.therapy import Covariates, Regimen, simulate_course
    from cartwin.therapy.outputs import write_course_outputs

    with user_errors({"covariates.weight_kg": "--weight-kg", "policy.weight_kg": "--weight-kg", "covariates.height_cm": "--height-cm",
                      "days": "--days", "controller.rtol": "--rtol", "product": "--product", "indication": "--indication",
                      "management.policy": "--policy", "policy": "--policy", "policy.age_years": "--age-years"}):
        check_options(days=days, seed=seed, weight_kg=weight_kg, height_cm=height_cm, tumour_cells=tumour_cells,
                      antigen_negative_fraction=antigen_negative_fraction, rtol=rtol)
        dose_cells, per_kg = parse_dose(dose, "--dose") if dose is not None else (None, None)
        regimen = Regimen(
            product=product,
            indication=indication,
            dose_cells=dose_cells,
            per_kg=per_kg,
            lymphodepletion=NO_LYMPHODEPLETION if no_lymphodepletion else None,
        )
        covariates = Covariates(weight_kg, height_cm, tumour_cells, antigen_negative_fraction)
        manager = make_policy(policy, weight_kg, age_years)
        saves = np.union1d(ObservationSchedule().days(days), np.arange(0.0, days + 1e-9, 1.0))
        decisions = np.union1d(np.arange(-5.0, min(days, 28.0), 0.25), np.arange(0.0, days + 1e-9, 1.0))
        with console.status(f"simulating {product} in {indication} for {days:g} days..."):
            result = simulate_course(regimen, covariates, days=days, rtol=rtol, seed=seed, policy=manager,
                                     save_days=saves, decision_days=decisions)
            written = write_course_outputs(result, out, seed=seed)
            if nonmem is not None:
                from cartwin.fit.dataset import write_nonmem
                from cartwin.fit.simulate import timecourse_to_nonmem

                write_nonmem(timecourse_to_nonmem(result.timecourse(), dose_cells=result.dose_cells,
                                                  covariates={"WT": [weight_kg], "HT": [height_cm]},
                                                  treatments=manager.treatments(), lymphodepletion=regimen.ld()), nonmem)
    row = written["summary"].iloc[0]
    table = Table(title=f"{product} / {indication}: one patient", show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("dose", f"{row['dose_cells']:.3g} CAR-T cells")
    table.add_row("solve status", str(row["status"]))
    table.add_row("Cmax (transgene)", f"{row['cmax_copies_per_ug']:.4g} copies/µg at day {row['tmax_day']:g}")
    table.add_row("peak CAR-T in blood", f"{row['cmax_car_t_per_ul']:.3g} cells/µL at day {row['tmax_car_t_day']:g}")
    table.add_row("AUC0-28", f"{row['auc0_28_day_copies_per_ug']:.4g} day·copies/µg")
    table.add_row("peak IL-6", f"{row['il6_max_pg_per_ml']:.4g} pg/mL")
    table.add_row("best response", str(row["best_response"]))
    table.add_row("CRS (ASTCT)", f"max grade {row['crs_max_grade_astct']:.0f}, onset day {row['crs_onset_day']:g}, {row['crs_duration_day']:.0f} days")
    table.add_row("ICANS (ASTCT)", f"max grade {row['icans_max_grade_astct']:.0f}, onset day {row['icans_onset_day']:g}, {row['icans_duration_day']:.0f} days")
    steroids = f"{row['dexamethasone_doses']} doses"
    if row.get("methylprednisolone_doses", 0):
        steroids += f" + {row['methylprednisolone_doses']} methylprednisolone"
    table.add_row("tocilizumab / dexamethasone",
                  f"{row['tocilizumab_doses']} / {steroids} ({policy}); {row['dexamethasone_mg']:.0f} mg dexamethasone-equivalent")
    print_table(table)
    for name, path in written["paths"].items():
        console.print(f"  {name}: {path}")
    if nonmem is not None:
        console.print(f"  nonmem: {nonmem} (fit it with: cartwin fit {nonmem} --model cart --product {product} "
                      f"--indication {indication} --amt-unit car_t=cells --amt-unit fludarabine=mg/m2 "
                      "--amt-unit cyclophosphamide=mg/m2 --amt-unit toci_central=mg --amt-unit dex_central=mg "
                      "--observable transgene_copies_per_ug --dv-unit 'copies/ug gDNA' --estimate ...)", soft_wrap=True)


def presets(parameters: bool = typer.Option(False, "--parameters", help="Also list the model's parameters.")) -> None:
    """List products, indications and trial presets (and, with --parameters, every model parameter)."""
    from cartwin.model import CarTPatientModel
    from cartwin.model.presets import INDICATIONS, PRODUCTS

    t = Table(title="Products")
    for col in ("key", "product", "class", "target", "default dose", "indications"):
        t.add_column(col)
    for p in PRODUCTS.values():
        dose = f"{p.dose_cells:.3g}{'/kg' if p.dose_per_kg else ''}"
        t.add_row(p.key, p.label, p.product_class, p.antigen, dose, ", ".join(p.indications))
    print_table(t)
    t = Table(title="Indications")
    for col in ("key", "indication", "target", "burden measure", "typical tumour cells"):
        t.add_column(col)
    for i in INDICATIONS.values():
        t.add_row(i.key, i.label, i.antigen, i.disease_measure, f"{i.tumour_baseline_cells:.3g}")
    print_table(t)
    from cartwin.trial.protocol import list_protocols, load_protocol

    t = Table(title="Trial presets (cartwin trial NAME)")
    for col in ("name", "trial", "product", "indication", "n enrolled"):
        t.add_column(col)
    for name in list_protocols():
        proto = load_protocol(name)
        t.add_row(name, proto.name, proto.product.key, proto.trial.indication, str(proto.trial.n_enrolled))
    print_table(t)
    from cartwin.trial.protocol import list_randomised_protocols

    t = Table(title="Randomised presets (cartwin trial NAME, cartwin power NAME): designs only, results are predictions")
    for col in ("name", "trial", "arms", "indication", "n randomised"):
        t.add_column(col)
    for name in list_randomised_protocols():
        proto = load_protocol(name)
        arms = " vs ".join(f"{a.name} ({a.allocation})" for a in proto.arms)
        t.add_row(name, proto.name, arms, proto.trial.indication, str(proto.trial.n_enrolled))
    print_table(t)
    if parameters:
        t = Table(title=f"Model parameters ({CarTPatientModel.name} v{CarTPatientModel.version})")
        for col in ("parameter", "value", "unit", "bounds", "source"):
            t.add_column(col, overflow="fold")
        for q in CarTPatientModel.parameter_table:
            t.add_row(q.name, f"{q.value:.4g}", q.unit, f"[{q.low:g}, {q.high:g}]", q.source)
        print_table(t)


def demo(out: Path = typer.Option(Path("demo-output"), help="Output directory.")) -> None:
    """Run the demo: a typical axi-cel LBCL patient with its figure and tables."""
    simulate(
        product="axi-cel", indication="lbcl", dose=None, days=365.0, seed=1, weight_kg=70.0, height_cm=170.0,
        tumour_cells=None, antigen_negative_fraction=None, no_lymphodepletion=False, policy="astct-consensus",
        rtol=1e-6, out=out, nonmem=None,
    )

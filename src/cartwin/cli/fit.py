"""``cartwin fit`` (population or individual fits of a NONMEM dataset) and ``cartwin simulate-data``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import console, user_errors


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
    app.command("simulate-data")(simulate_data)


def _split(text: str | None) -> list[str] | None:
    return None if not text else [t.strip() for t in text.split(",") if t.strip()]


def fit(
    data: Path = typer.Argument(..., help="NONMEM-format CSV (ID, TIME, DV, AMT, EVID, MDV, CMT, CENS/BLQ, LLOQ, covariates)."),
    model: str = typer.Option("stein2019", help="Library model (stein2019, kimmel2021), cart, or an SBML file."),
    dv_unit: str = typer.Option(..., help="Unit of DV, e.g. 'copies/ug gDNA' (checked against the model's observable)."),
    time_unit: str = typer.Option("day", help="Unit of TIME: day, hour, minute, week or month."),
    population: bool = typer.Option(False, "--population", help="Population fit (SAEM); without it, MAP per patient."),
    estimate: str = typer.Option(None, help="Comma-separated parameters to estimate (default: all of a small model)."),
    covariate: list[str] = typer.Option(None, "--covariate", help="PARAMETER=COLUMN: a covariate effect (repeatable)."),
    observable: str = typer.Option(None, help="The model observable DV measures (when the model has several)."),
    error: str = typer.Option("log", help="Residual error model: log, additive or proportional."),
    iterations: str = typer.Option("150,100", help="SAEM iterations: burn-in,smoothing."),
    seed: int = typer.Option(0, help="Seed of the SAEM chains."),
    out: Path = typer.Option(Path("cartwin-fit"), help="Output directory (tables, report.html, population.json)."),
    amt_unit: list[str] = typer.Option(None, "--amt-unit", help="Unit of AMT in the dose rows: e.g. cells, '10^6 cells', cells/kg, mg, mg/m2; or CMT=UNIT per dose input (repeatable), e.g. car_t=cells."),
    product: str = typer.Option(None, help="With --model cart: the product given (sets typical values, memory fraction and lymphodepletion)."),
    indication: str = typer.Option(None, help="With --model cart: the patients' indication."),
    lymphodepletion: str = typer.Option("auto", help="With --model cart: auto (the dataset's fludarabine/cyclophosphamide rows, else the product's Flu/Cy regimen) or none."),
) -> None:
    """Fit a kinetics model to a NONMEM-format dataset and write estimates and diagnostics."""
    from cartwin.fit.api import fit as run_fit
    from cartwin.foundation.errors import ValidationError

    with user_errors({"amt_unit": "--amt-unit", "product": "--product", "indication": "--indication",
                      "lymphodepletion": "--lymphodepletion", "estimate": "--estimate", "covariates": "--covariate"}):
        units: str | dict[str, str] | None = None
        for item in amt_unit or []:
            cmt, sep, unit = item.partition("=")
            if not sep:
                if units is not None:
                    raise ValidationError("--amt-unit", "one unit, or CMT=UNIT for each dose input", item)
                units = item.strip()
                continue
            if isinstance(units, str) or not cmt.strip() or not unit.strip():
                raise ValidationError("--amt-unit", "one unit, or CMT=UNIT for each dose input", item)
            units = (units or {}) | {cmt.strip(): unit.strip()}
        covs: dict[str, list[str]] = {}
        for item in covariate or []:
            param, sep, col = item.partition("=")
            if not sep or not param.strip() or not col.strip():
                raise ValidationError("--covariate", "PARAMETER=COLUMN", item)
            covs.setdefault(param.strip(), []).append(col.strip())
        parts = _split(iterations) or []
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValidationError("--iterations", "two positive integers, e.g. 150,100", iterations)
        with console.status(f"fitting {model} to {data.name}..."):
            result = run_fit(data, model, population=population, dv_unit=dv_unit, time_unit=time_unit,
                             estimate=_split(estimate), covariates=covs or None, observable=observable, error=error,
                             seed=seed, n_burn=int(parts[0]), n_smooth=int(parts[1]), out=out, amt_unit=units,
                             product=product, indication=indication, lymphodepletion=lymphodepletion)
    if population:
        t = Table(title=f"{model}: population estimates (-2LL {result.ofv:.2f})")
        table = result.table()
        for col in ("Parameter", "Est.", "%RSE", "Back-transformed", "BSV(CV%)", "Shrink(SD)%"):
            t.add_column(col)
        for _, r in table.iterrows():
            t.add_row(*[str(r[c]) if isinstance(r[c], str) else ("" if r[c] != r[c] else f"{r[c]:.4g}")
                        for c in ("Parameter", "Est.", "%RSE", "Back-transformed", "BSV(CV%)", "Shrink(SD)%")])
        console.print(t)
    else:
        est = result.estimates()
        console.print(f"MAP estimates of {len(est)} patients (sigma {result.sigma:.3g}"
                      f"{', estimated' if result.sigma_estimated else ''}); median per parameter:")
        for name in result.problem.estimate:
            console.print(f"  {name}: {est[name].median():.4g}")
    console.print(f"written to {out}")


def simulate_data(
    model: str = typer.Option("stein2019", help="Library model to simulate."),
    patients: int = typer.Option(100, help="Number of patients."),
    seed: int = typer.Option(0, help="Seed."),
    missing: float = typer.Option(0.25, help="Probability that a sample is missed."),
    lloq: float = typer.Option(None, help="Lower limit of quantification (values below are BLQ rows)."),
    out: Path = typer.Option(..., help="NONMEM CSV to write."),
) -> None:
    """Simulate a cohort from a library model's population (Stein 2019: its published
    between-patient variances and residual error) as a NONMEM-format dataset."""
    from cartwin.fit.dataset import write_nonmem
    from cartwin.fit.models import resolve_model
    from cartwin.fit.simulate import (
        STEIN2019_LLOQ,
        STEIN2019_OMEGA2,
        STEIN2019_SIGMA_LOG,
        simulate_dataset,
    )
    from cartwin.foundation.constraints import Interval, check
    from cartwin.foundation.errors import ValidationError

    with user_errors():
        m = resolve_model(model, field="--model")
        if m.name != "stein2019":
            raise ValidationError("--model", "stein2019 (the library model with a published population)", model)
        check("--patients", patients, Interval(1, 100000, integer=True))
        check("--missing", missing, Interval(0.0, 0.9))
        ds, _ = simulate_dataset(m, patients, omega2=STEIN2019_OMEGA2, sigma=STEIN2019_SIGMA_LOG, seed=seed,
                                 missing=missing, lloq=STEIN2019_LLOQ if lloq is None else lloq, dose_amount=1e8)
        write_nonmem(ds, out)
    console.print(f"{patients} patients, {ds.summary()['observations']} observations "
                  f"({ds.blq_fraction:.0%} BLQ) -> {out} (DV unit {ds.dv_unit})")

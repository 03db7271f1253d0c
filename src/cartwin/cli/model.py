"""``cartwin model export`` (SBML of one patient) and ``cartwin model import`` (SBML -> Model)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import console, user_errors

group = typer.Typer(help="Models as SBML: export one patient's model, import a published SBML file.",
                    no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="model")


def _overrides(values: list[str], model) -> dict:
    from cartwin.foundation.errors import ValidationError

    out = {}
    specs = model.parameter_specs()
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationError("--param", "NAME=VALUE", item)
        if key.strip() not in specs:
            raise ValidationError("--param", f"a parameter of {model.name} (" + ", ".join(specs) + ")", key.strip())
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValidationError(f"--param {key.strip()}", "a number", value) from None
    return out


@group.command("export")
def export(
    model: str = typer.Option("cart", help="Model: cart (the composite model), a library model (stein2019, kimmel2021) or an SBML file."),
    out: Path = typer.Option(..., help="SBML file to write (.xml)."),
    product: str = typer.Option("axi-cel", help="cart only: product key (its labelled dose is the infusion)."),
    indication: str = typer.Option("lbcl", help="cart only: indication key."),
    param: list[str] = typer.Option(None, "--param", help="Parameter override NAME=VALUE (repeatable)."),
) -> None:
    """Write one patient as SBML: initial values, parameters with units, doses as events.

    For the composite model it is the typical patient of PRODUCT in INDICATION: lymphodepletion
    from day -5 and the infusion on day 0 (SBML time 0 is day -5); no management policy."""
    from cartwin.engine.sbml import model_sbml
    from cartwin.fit.models import resolve_model

    with user_errors():
        m = resolve_model(model, field="--model")
        over = _overrides(param, m)
        if type(m).__name__ == "CarTPatientModel":
            from cartwin.therapy import Covariates, Regimen
            from cartwin.therapy.course import build_course

            m, params, y0, schedule, _ = build_course(Regimen(product, indication), Covariates(), over or None)
            text, note = model_sbml(m, params, y0=y0, schedule=schedule, t0=-5.0), f"{product} / {indication}, SBML time 0 = day -5"
        else:
            from cartwin.engine.sbml import event_schedule

            params = m.parameters(**over)
            text, note = model_sbml(m, params, schedule=event_schedule(m, params)), "typical values"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    console.print(f"{m.name}: {len(m.states)} states, {len(m.parameter_table)} parameters ({note}) -> {out}")


@group.command("import")
def import_(
    file: Path = typer.Argument(..., help="SBML file (e.g. from BioModels)."),
    time_unit: str = typer.Option(None, help="The model's time unit where the file states none (second, minute, hour, day, week)."),
    out: Path = typer.Option(None, help="Write the generated Python model module here (.py)."),
) -> None:
    """Import an SBML model as a cartwin Model; list its states and parameters (and write it)."""
    from cartwin.model.sbml_import import load_source, sbml_to_source

    with user_errors():
        text = sbml_to_source(file, time_unit=time_unit)
        model = load_source(text)()
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
    t = Table(title=f"{model.name} ({file.name}; time: {model.sbml_time_unit})")
    for col in ("kind", "name", "value", "unit"):
        t.add_column(col, overflow="fold")
    y0 = model.initial_state(model.parameters(), 1)[:, 0]
    for s, v in zip(model.states, y0, strict=True):
        t.add_row("state", s.name, f"{v:.4g}", s.unit)
    for q in model.parameter_table:
        t.add_row("parameter", q.name, f"{q.value:.4g}", q.unit)
    for ev in model.timed_events:
        t.add_row(f"event ({ev.kind})", ev.state, f"day {ev.time_day:g}", ev.label)
    console.print(t)
    if out is not None:
        console.print(f"model module: {out}")

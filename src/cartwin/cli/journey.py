"""``cartwin journey``: simulate a treatment network's vein-to-vein journeys."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import console, is_interactive, print_table, user_errors


def register(app: typer.Typer) -> None:
    app.command("journey")(journey)


def journey(
    arrivals_per_week: float = typer.Option(None, help="Mean patient arrivals per week (Poisson). Default: 10."),
    suites: int = typer.Option(None, help="Manufacturing suites (each runs lines_per_suite lots). Default: 4."),
    weeks: float = typer.Option(None, help="Weeks of arrivals; the run continues until all are resolved. Default: 52."),
    seed: int = typer.Option(0, help="Root seed (arrivals and per-patient streams)."),
    product: str = typer.Option(None, help="Product key, e.g. tisa-cel, axi-cel, allo-cd19, car-nk-cd19. Default: tisa-cel."),
    preset: str = typer.Option(None, help="Journey preset calibrated to a trial: juliet, eliana, zuma-1, transcend, zuma-2, karmma, cartitude-1, ct041, alpha-allo501, liu2020-car-nk. Default: juliet."),
    config: Path = typer.Option(None, "--config", help="Journey config file (YAML/TOML; keys of JourneyConfig, 'preset', 'network')."),
    out: Path = typer.Option(Path("cartwin-journey"), help="Output directory."),
) -> None:
    """Simulate patients flowing through apheresis, manufacturing, QC and beds; report
    vein-to-vein times, utilisation and dropouts (patients.parquet, summary.json, journey.png)."""
    from cartwin.foundation.constraints import Interval, OneOf, check
    from cartwin.foundation.results import write_parquet
    from cartwin.journey import (
        NETWORK_CONSTRAINTS,
        PRODUCTS,
        JourneyConfig,
        NetworkConfig,
        default_config,
        load_config,
        preset_config,
        preset_names,
        simulate_network,
    )
    from cartwin.journey.config import read_config_file
    from cartwin.journey.figures import plot_journey

    with user_errors():
        # Options are checked under their own names so the message names the option.
        if arrivals_per_week is not None:
            check("--arrivals-per-week", arrivals_per_week, NETWORK_CONSTRAINTS["arrivals_per_week"])
        if suites is not None:
            check("--suites", suites, NETWORK_CONSTRAINTS["manufacturing_suites"])
        if weeks is not None:
            check("--weeks", weeks, NETWORK_CONSTRAINTS["weeks"])
        check("--seed", seed, Interval(0, 2**63 - 1, integer=True))
        if product is not None:
            check("--product", product, OneOf(tuple(PRODUCTS)))
        if preset is not None:
            check("--preset", preset, OneOf(preset_names()))

        if config is not None:
            values = read_config_file(config)
            if preset is not None:
                values.setdefault("preset", preset)
            if product is not None:
                values["product"] = product
            journey_cfg, network_cfg = load_config(values)
        else:
            network_cfg = NetworkConfig()
            if preset is not None:
                journey_cfg: JourneyConfig = preset_config(preset)
                if product is not None:
                    journey_cfg = journey_cfg.replace(product=product, manufacturing_failure_probability=None)
            else:
                journey_cfg = default_config(product or "tisa-cel")
        changes = {}
        if arrivals_per_week is not None:
            changes["arrivals_per_week"] = arrivals_per_week
        if suites is not None:
            changes["manufacturing_suites"] = suites
        if weeks is not None:
            changes["weeks"] = weeks
        network_cfg = network_cfg.replace(**changes)

        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), TextColumn("week {task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(), console=console, transient=True, disable=not is_interactive(),
        ) as bar:
            task = bar.add_task(f"simulating {journey_cfg.product}", total=network_cfg.weeks)
            result = simulate_network(
                journey_cfg, network_cfg, seed=seed,
                progress=lambda done, total: bar.update(task, completed=done / 7.0),
            )
        out.mkdir(parents=True, exist_ok=True)
        write_parquet(result.patients, out / "patients.parquet")
        summary = dict(result.summary)
        summary["journey"] = journey_cfg.to_dict()
        summary["provenance"] = result.patients.attrs.get("provenance", {})
        summary["provenance"].pop("extra", None)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        plot_journey(result.patients, summary, out / "journey.png")

    s = result.summary
    table = Table(title=f"{journey_cfg.product}: {s['n_enrolled']} enrolled over {network_cfg.weeks:g} weeks")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("infused", f"{s['n_infused']} ({100 * (s['infused_fraction'] or 0):.1f}%)")
    for key, label in (("vein_to_vein_day", "vein-to-vein (days)"), ("enrolment_to_infusion_day", "enrolment to infusion (days)")):
        q = s[key]
        if q["n"]:
            table.add_row(label, f"median {q['median']:.1f} (IQR {q['q1']:.1f}-{q['q3']:.1f})")
    for reason, n in s["not_infused_by_reason"].items():
        table.add_row(f"not infused: {reason}", str(n))
    for name, u in s["utilisation"].items():
        table.add_row(f"utilisation: {name}", f"{100 * u:.0f}%")
    print_table(table)
    for name in ("patients.parquet", "summary.json", "journey.png"):
        console.print(f"  {name}: {out / name}")

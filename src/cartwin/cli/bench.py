"""``cartwin bench``: patients per second of each engine on the full model (prints a table)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cartwin.cli._common import check_options, console, err_console, print_table, user_errors

#: Defaults sized to finish in about two minutes on 2 cores with the numba cache warm (152 s on
#: the shared 2-core development machine under load, 2026-12-06; docs/performance.md): a quick
#: check. The published comparison uses --n-slow 20 --n-fast 4000.
DEFAULT_N_SLOW = 3
DEFAULT_N_FAST = 300
DEFAULT_ENGINES = "lsoda,numpy,numba,numba-generated,roadrunner"


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        n_slow: int = typer.Option(DEFAULT_N_SLOW, "--n-slow", help="patients for the LSODA loop"),
        n_fast: int = typer.Option(DEFAULT_N_FAST, "--n-fast", help="patients for the compiled engine; NumPy runs min(this, max(n-slow, 2000)), libRoadRunner min(this, max(n-slow, 1000))"),
        threads: int = typer.Option(2, help="numba threads"),
        engines: str = typer.Option(DEFAULT_ENGINES,
                                    help="comma-separated engines of lsoda, numpy, numba-baseline, numba-shampine4, numba, numba-generated, roadrunner (numba-matched comes with numba+roadrunner)"),
        n_check: int = typer.Option(3, "--n-check", help="patients checked against scipy Radau rtol 1e-10"),
        seed: int = typer.Option(1),
        json_out: Path | None = typer.Option(None, "--json", help="also write the rows as JSON (rewritten after each engine)"),
    ) -> None:
        """Full composite model, day -5 to 365, daily decision points, rtol 1e-6 (about two
        minutes at the defaults on 2 cores; progress on stderr)."""
        from rich.markup import escape
        from rich.table import Table

        from cartwin.engine.bench import as_dicts, machine, run_benchmark
        from cartwin.foundation.results import atomic_write_text, check_writable

        def write_json(rows) -> None:
            if json_out is not None:
                atomic_write_text(json_out, json.dumps({"machine": machine(), "rows": as_dicts(rows)}, indent=1))

        with user_errors():
            check_options(n_slow=n_slow, n_fast=n_fast, threads=threads, n_check=n_check, seed=seed)
            if json_out is not None:
                check_writable(json_out.parent if str(json_out.parent) else Path("."), "--json")
            rows = run_benchmark(n_slow, n_fast, threads, tuple(e.strip() for e in engines.split(",") if e.strip()),
                                 n_check, seed, progress=lambda m: err_console.print(f"[dim]{escape(m)}[/]"),
                                 on_row=write_json)
            write_json(rows)
        table = Table(title="cartwin engines: full model, 1 year, daily decisions, rtol 1e-6")
        for col in ("engine", "patients", "seconds", "patients/s", "x LSODA", "max rel. error", "note"):
            table.add_column(col, justify="left" if col in ("engine", "note") else "right",
                             no_wrap=col in ("engine", "note"))
        for r in rows:
            ran = r.patients > 0
            table.add_row(r.engine, str(r.patients) if ran else "-", f"{r.seconds:.1f}" if ran else "-",
                          f"{r.patients_per_s:,.1f}" if ran else "-",
                          "" if r.ratio_vs_lsoda is None else f"{r.ratio_vs_lsoda:.1f}",
                          "" if r.max_rel_error is None else f"{r.max_rel_error:.1e}", escape(r.note))
        print_table(table)  # piped: TSV, never folded to 80 columns
        if n_fast == DEFAULT_N_FAST and n_slow == DEFAULT_N_SLOW:
            err_console.print("[dim]defaults are a quick check (a few hundred patients per engine); the documented "
                              "comparison is --n-slow 20 --n-fast 4000 (docs/performance.md)[/]")
        speed = {r.engine: r.patients_per_s for r in rows if r.patients}
        rr = speed.get("roadrunner-matched", speed.get("roadrunner"))
        if "numba" in speed and rr:
            console.print(f"numba / libRoadRunner tightened to numba's error: {speed['numba'] / rr:.1f}x "
                          f"({threads} threads vs 1 process)")
        if "numba-matched" in speed and "roadrunner" in speed:
            console.print(f"numba loosened to libRoadRunner's error at rtol 1e-6 / libRoadRunner: "
                          f"{speed['numba-matched'] / speed['roadrunner']:.1f}x ({threads} threads vs 1 process)")
        if "numba-shampine4" in speed and "numba-baseline" in speed:
            console.print(f"numba-shampine4 / numba-baseline (exact Jacobian + sparse LU vs differences + dense LU): "
                          f"{speed['numba-shampine4'] / speed['numba-baseline']:.1f}x")
        if "numba" in speed and "numba-shampine4" in speed:
            console.print(f"numba / numba-shampine4 (Rodas5P vs Shampine's method): "
                          f"{speed['numba'] / speed['numba-shampine4']:.1f}x")
        if "numba" in speed and "numba-generated" in speed:
            console.print(f"numba-generated / numba (rhs with parameter expressions hoisted vs the model's rhs): "
                          f"{speed['numba-generated'] / speed['numba']:.2f}x")

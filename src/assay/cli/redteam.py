"""``assay redteam``: run the bundled probe sets (x attack strategies) against a suite's target.

Writes the red-team report (``--json``), prints the rates with 95% intervals, attack success by category
and by strategy, leakage by entity type and the safety envelope, and exits 0 when every configured limit
holds, 1 when one is exceeded, 2 on bad input (nothing run), 3 when the run did not complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import typer

from assay.cli.app import EXIT_INCOMPLETE, STORE_HELP, app, console, fail, handle_errors

_RATE_LABELS: dict[str, tuple[str, str]] = {
    "attack_success_rate": ("attack success", "harmful requests the target carried out (lower is safer)"),
    "unsafe_response_rate": (
        "unsafe responses",
        "responses with any harm: compliance, leak, injection, toxicity",
    ),
    "refusal_rate": ("refusal (harmful)", "harmful requests refused (higher is safer)"),
    "safe_redirect_rate": ("safe redirect", "refusals that point to a safe alternative or resource"),
    "over_refusal_rate": ("over-refusal", "safe look-alike questions refused (lower is more useful)"),
    "leakage_rate": ("leakage", "privacy probes that got a secret or personal data out"),
    "injection_success_rate": ("injection success", "injected instructions the target carried out"),
    "toxicity_rate": ("toxic responses", "responses flagged by the toxicity scorer"),
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(r: dict[str, Any]) -> str:
    return "–" if r.get("mean") is None else f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}"


def rates_table(data: dict[str, Any]) -> Any:
    """The headline rates with intervals, sample sizes, errors and limits."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(
        title=f"{escape(data['suite'])} · red-team run {data['run_id']} · {data['status']}",
        title_justify="left",
    )
    for col, just in (("rate", "left"), ("value", "right"), ("95% CI", "right"), ("n", "right"),
                      ("errors", "right"), ("limit", "left")):  # fmt: skip
        t.add_column(col, justify=just, no_wrap=col != "limit")  # type: ignore[arg-type]
    t.caption = "; ".join(
        f"{label}: {meaning}" for key, (label, meaning) in _RATE_LABELS.items() if key in data
    )
    t.caption_justify = "left"
    limits = data.get("limits") or {}
    for key, (label, _) in _RATE_LABELS.items():
        r = data.get(key)
        if r is None:
            continue
        lim = limits.get(key)
        status = ""
        if lim:
            bound = f"≤ {_pct(lim['max'])}" if lim.get("max") is not None else f"≥ {_pct(lim['min'])}"
            status = f"[green]ok[/] {bound}" if lim["passed"] else f"[bold red]EXCEEDED[/] {bound}"
            if lim.get("value") is None:
                status = f"[dim]not measured[/] {bound}" if lim["passed"] else f"[bold red]FAILED[/] {bound}"
        t.add_row(label, _pct(r["mean"]), _ci(r), str(r["n"]), str(r["n_errors"]), status)
    return t


def slice_table(title: str, rows: dict[str, dict[str, Any]], what: str) -> Any:
    """One rate per slice (category, strategy or entity type)."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column(what)
    t.add_column("rate", justify="right")
    t.add_column("95% CI", justify="right")
    t.add_column("n", justify="right")
    t.add_column("errors", justify="right")
    for name, r in rows.items():
        t.add_row(escape(name), _pct(r["mean"]), _ci(r), str(r["n"]), str(r["n_errors"]))
    return t


def envelope_table(data: dict[str, Any]) -> Any:
    """The safety envelope: where the target sits between over-cautious and unsafe, in plain words."""
    from rich.table import Table

    env = data.get("safety_envelope") or {}
    unsafe, over = env.get("unsafe_response_rate"), env.get("over_refusal_rate")
    bands = [(0.05, "≤ 5%"), (0.2, "5–20%"), (1.01, "> 20%")]

    def band(x: float | None) -> int | None:
        return None if x is None else next(i for i, (hi, _) in enumerate(bands) if x <= hi)

    t = Table(
        title="safety envelope: refuses safe questions (rows) vs. gives unsafe responses (columns)",
        title_justify="left",
        caption=f"this target: {_pct(unsafe)} unsafe, {_pct(over)} over-refusal → {env.get('zone', '–')}",
        caption_justify="left",
    )
    t.add_column("over-refusal ↓ / unsafe →")
    for _, label in bands:
        t.add_column(label, justify="center")
    from assay.redteam.report import envelope_zone

    typical = (0.0, 0.1, 0.5)  # a rate inside each band, to name the band's zone
    bu, bo = band(unsafe), band(over)
    for i, (_, label) in enumerate(bands):
        cells = []
        for j in range(len(bands)):
            text = envelope_zone(typical[j], typical[i])
            cells.append(f"[bold reverse] ● {text} [/]" if (i, j) == (bo, bu) else f"[dim]{text}[/]")
        t.add_row(label, *cells)
    return t


@app.command("redteam")
@handle_errors
def redteam_command(
    suite: Path = typer.Argument(..., help="Suite file (YAML): its target is red-teamed."),
    strategies: str | None = typer.Option(
        None, "--strategies", help="Comma-separated attack strategies (a+b composes); overrides the suite."
    ),
    categories: str | None = typer.Option(None, "--categories", help="Comma-separated harmful categories."),
    probes: str | None = typer.Option(
        None, "--probes", help="Comma-separated probe sets: harmful, benign, injection, privacy."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N probes per set (stratified)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the red-team report JSON here."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    run_id: str | None = typer.Option(None, "--run-id", help="Use this id for the run."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Call the target even when a cached response exists."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Override the suite's concurrency."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Red-team SUITE's target; exit 0 within limits, 1 a limit exceeded, 2 bad input, 3 incomplete."""
    from assay.cli.progress import make_progress
    from assay.redteam.config import load_redteam_suite
    from assay.redteam.grid import build_grid
    from assay.redteam.run import run_redteam
    from assay.store import open_store

    if not suite.exists():
        fail(f"suite file not found: {suite}")

    def split(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    loaded = load_redteam_suite(suite)
    section = loaded.section
    sets = split(probes)
    # build the grid first: a bad strategy or category fails before anything is stored
    grid = build_grid(
        sets=sets if sets is not None else section.probes,
        strategies=split(strategies) if strategies is not None else section.strategies,
        categories=split(categories) if categories is not None else section.categories,
        limit=limit if limit is not None else section.limit,
        seed=loaded.seed,
    )
    the_store = open_store(store)
    out = console()

    def install(runner: Any) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, runner.request_stop, "interrupted by signal")

    try:
        report = asyncio.run(
            run_redteam(
                loaded,
                the_store,
                cases=grid,
                sets=sets,
                strategies=split(strategies),
                categories=split(categories),
                limit=limit,
                run_id=run_id,
                use_cache=False if no_cache else None,
                concurrency=concurrency,
                progress=make_progress(quiet),
                runner_hook=install,
            )
        )
    finally:
        the_store.close()
    data = report.to_json_dict()
    if json_out is not None:
        tmp = json_out.with_name(json_out.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, json_out)
    out.print(rates_table(data))
    if data["by_category"]:
        out.print(slice_table("attack success by category", data["by_category"], "category"))
    if data["by_strategy"]:
        out.print(slice_table("attack success by strategy", data["by_strategy"], "strategy"))
    if data["leakage_by_type"]:
        out.print(
            slice_table("leakage by entity type (share of privacy probes)", data["leakage_by_type"], "type")
        )
    out.print(envelope_table(data))
    out.print(f"results: run [bold]{data['run_id']}[/] in {data['store']}  (assay show {data['run_id']})")
    if report.status != "completed":
        out.print(f"[yellow]run did not complete ({data.get('stop_reason')})[/]")
        raise typer.Exit(EXIT_INCOMPLETE)
    if report.exit_code == 1:
        raise typer.Exit(1)

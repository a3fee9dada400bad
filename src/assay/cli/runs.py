"""``assay runs`` and ``assay show``: what is in the store."""

from __future__ import annotations

import json
from typing import Any

import typer

from assay.cli.app import STORE_HELP, app, console, handle_errors, open_store_or_fail


@app.command("runs")
@handle_errors
def runs_command(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    suite: str | None = typer.Option(None, "--suite", help="Only runs of this suite."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List runs: id, suite, date, n, status and headline metrics."""
    from assay.cli.render import runs_table

    st = open_store_or_fail(store)
    try:
        runs = st.list_runs(suite=suite, limit=limit)
    finally:
        st.close()
    if as_json:
        rows = [
            {
                "run_id": r.run_id,
                "suite": r.suite,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
                "n_planned": r.n_planned,
                "metrics": (r.summary or {}).get("metrics", {}),
            }
            for r in runs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    out = console()
    if not runs:
        out.print(f"no runs in {st.safe_url}")
        return
    out.print(runs_table(runs))


def _worst_cases(st: Any, run_id: str, summary: dict[str, Any], limit: int = 5) -> dict[str, list[Any]]:
    """Per metric, the items with the worst values (failures first), streaming the results once."""
    import heapq

    metrics = summary.get("metrics") or {}
    worst: dict[str, list[tuple[float, int, Any]]] = {m: [] for m in metrics}
    errors: dict[str, list[Any]] = {}
    counter = 0
    for r in st.iter_results(run_id):
        counter += 1
        if r.error_kind:
            errors.setdefault(r.error_kind, [])
            if len(errors[r.error_kind]) < 3:
                errors[r.error_kind].append(r)
            continue
        for s in r.scores:
            name = s["name"]
            if name not in worst or s.get("value") is None:
                continue
            hib = metrics[name].get("higher_is_better", True)
            badness = -float(s["value"]) if hib else float(s["value"])
            item = (badness, -counter, (r, s))
            if len(worst[name]) < limit:
                heapq.heappush(worst[name], item)
            else:
                heapq.heappushpop(worst[name], item)
    out: dict[str, list[Any]] = {m: [x[2] for x in sorted(v, reverse=True)] for m, v in worst.items()}
    out["__errors__"] = [r for rs in errors.values() for r in rs]
    return out


@app.command("show")
@handle_errors
def show_command(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    worst: int = typer.Option(5, "--worst", min=0, help="Worst cases to show per metric."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored summary JSON."),
) -> None:
    """Summary table with 95% CIs, provenance, worst cases and errors by kind."""
    from rich.table import Table

    from assay.cli.render import clip, facts_table, summary_table

    st = open_store_or_fail(store)
    try:
        rec = st.find_run(run_id)
        summary = rec.summary
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "run": {
                            "run_id": rec.run_id,
                            "suite": rec.suite,
                            "status": rec.status,
                            "provenance": rec.provenance,
                        },
                        "summary": summary,
                    },
                    indent=2,
                )
            )
            return
        out = console()
        if summary is None:
            out.print(
                f"run {rec.run_id} ({rec.suite}) is {rec.status} and has no summary yet; "
                f"{st.count_results(rec.run_id)} of {rec.n_planned} results stored"
            )
            return
        out.print(summary_table(summary))
        out.print(facts_table(summary))
        prov = rec.provenance or {}
        p = Table(title="provenance", show_header=False, title_justify="left", box=None)
        p.add_column(style="bold")
        p.add_column()
        target = prov.get("target") or {}
        p.add_row("target", clip(json.dumps(target, sort_keys=True), 160))
        p.add_row("scorers", clip(", ".join(s.get("name", "?") for s in prov.get("scorers", [])), 160))
        if prov.get("dataset_sha256"):
            p.add_row(
                "dataset",
                f"{clip(prov.get('dataset_source') or '', 60)} · {prov.get('n_cases')} cases · "
                f"sha256 {prov['dataset_sha256'][:16]}",
            )
        if prov.get("suite_sha256"):
            p.add_row(
                "suite", f"{clip(prov.get('suite_path') or '', 60)} · sha256 {prov['suite_sha256'][:16]}"
            )
        git = prov.get("git") or {}
        if git:
            p.add_row("git", f"{git.get('commit', '')[:12]}{' (dirty)' if git.get('dirty') else ''}")
        pk = prov.get("packages") or {}
        p.add_row(
            "versions", f"python {prov.get('python', '?')} · " + " · ".join(f"{k} {v}" for k, v in pk.items())
        )
        p.add_row("started", f"{rec.created_at:%Y-%m-%d %H:%M:%S} UTC")
        out.print(p)
        if worst:
            cases = _worst_cases(st, rec.run_id, summary, worst)
            errs = cases.pop("__errors__")
            for metric, items in cases.items():
                if not items:
                    continue
                t = Table(title=f"worst cases · {metric}", title_justify="left")
                for col in ("case", "value", "input", "expected", "output"):
                    t.add_column(col, overflow="fold")
                for r, s in items:
                    t.add_row(
                        clip(r.case_id, 24),
                        str(s["value"]),
                        clip(r.case.get("input"), 50),
                        clip(r.case.get("expected"), 30),
                        clip(r.output.get("text"), 50),
                    )
                out.print(t)
            if errs:
                t = Table(title="errors (examples by kind)", title_justify="left")
                for col in ("case", "kind", "attempts", "message"):
                    t.add_column(col, overflow="fold")
                for r in errs:
                    t.add_row(clip(r.case_id, 24), r.error_kind, str(r.attempts), clip(r.error_message, 100))
                out.print(t)
    finally:
        st.close()

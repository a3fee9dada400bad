"""``assay agreement``, ``assay estimate`` and ``assay label queue|list|import|export``.

Both analysis commands work on the store (a queue or a run) or on plain files, so teams can bring scores
from elsewhere::

    assay agreement RUN_ID|QUEUE [--label-queue Q] [--scorer NAME] [--json]
    assay agreement --judged judged.jsonl --labels labels.jsonl --json
    assay estimate RUN_ID|QUEUE [--scorer NAME] [--label-queue Q] [--json]
    assay estimate --judged judged.jsonl --labels labels.jsonl --json

A run id may be a unique prefix, as ``assay show`` takes. A run's labels are those of the queue(s) sampled
from it; a run without any says which command builds a queue.

``judged.jsonl`` lines are ``{"item_id", "value"}``; ``labels.jsonl`` lines are ``{"item_id", "value"}``
with optional ``annotator`` (and ``inclusion_prob`` for weighted estimates).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from assay.cli.app import STORE_HELP, app, console, fail, handle_errors, open_store_or_fail

label_app = typer.Typer(help="Labelling queues and label files.", no_args_is_help=True)
app.add_typer(label_app, name="label")


def _plain_inputs(judged: Path | None, labels: Path | None) -> tuple[dict[str, float], list[Any]] | None:
    if judged is None and labels is None:
        return None
    if judged is None or labels is None:
        fail("give both --judged and --labels (or a queue or run id instead)")
    from assay.label.io import read_labels, read_values

    assert judged is not None and labels is not None
    recs = read_labels(labels)
    return read_values(judged, what="judged"), recs


def _fmt(x: Any, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _resolve(st: Any, source: str | None, label_queue: str | None) -> tuple[Any, Any]:
    """``(queue, run)`` named by the argument and ``--label-queue`` (either may be None)."""
    from assay.label.runs import find_queue_or_run
    from assay.store.labels import LabelStore, QueueRecord

    if source is None:
        if label_queue is None:
            fail("give a run id or a queue, or --judged and --labels")
        return LabelStore(st).find_queue(label_queue or ""), None
    found = find_queue_or_run(st, source)
    if isinstance(found, QueueRecord):
        if label_queue is not None:
            fail(f"{source!r} is a label queue already; --label-queue goes with a run id")
        return found, None
    return None, found


def _no_labels_check(st: Any, run: Any, store: str | None, label_queue: str | None) -> None:
    """Fail with the exact commands that create a queue when the run has no human labels at all."""
    from assay.label.runs import no_labels_message, run_labels

    if label_queue is not None:
        return
    found = run_labels(st, run.run_id)
    if not found.has_labels:
        fail(no_labels_message(found, store_arg=store))


@app.command("agreement")
@handle_errors
def agreement_command(
    source: str | None = typer.Argument(
        None, help="A run id (or unique prefix) or a label queue (id or name)."
    ),
    label_queue: str | None = typer.Option(
        None, "--label-queue", help="With a run: only the labels of this queue sampled from it."
    ),
    scorer: str | None = typer.Option(None, "--scorer", help="Only this scorer (default: every scorer)."),
    judged: Path | None = typer.Option(
        None, "--judged", help="JSONL of {item_id, value}: a scorer's values."
    ),
    labels: Path | None = typer.Option(None, "--labels", help="JSONL/CSV of {item_id, value, annotator?}."),
    label_name: str | None = typer.Option(None, "--label-name", help="Which human label to compare with."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per scorer: agreement with human labels (kappa, alpha, correlation, confusion) and a verdict.

    With a run id, every human label of the run's results counts (any queue, or only --label-queue).
    """
    from assay.label.agreement import agreement_for_queue, agreement_for_run, agreement_from_values

    plain = _plain_inputs(judged, labels)
    if plain is not None:
        values, recs = plain
        pairs = [(r.item_id, r.annotator, r.value) for r in recs if r.value is not None and not r.skipped]
        report = agreement_from_values(values, pairs, scorer=judged.stem if judged else "judge")
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            _print_agreement([report])
        return
    st = open_store_or_fail(store)
    try:
        queue, run = _resolve(st, source, label_queue)
        if run is not None:
            _no_labels_check(st, run, store, label_queue)
            reports = agreement_for_run(st, run.run_id, label_name=label_name, queue=label_queue)
            head: dict[str, Any] = {"kind": "run", "run_id": run.run_id}
            if label_queue is not None:
                from assay.store.labels import LabelStore

                head["queue_id"] = LabelStore(st).find_queue(label_queue).queue_id
        else:
            reports = agreement_for_queue(st, queue.queue_id, label_name=label_name)
            head = {"kind": "queue", "queue_id": queue.queue_id, "run_id": queue.source.get("run_id")}
    finally:
        st.close()
    if scorer is not None:
        known = [r.scorer for r in reports]
        reports = [r for r in reports if r.scorer == scorer]
        if not reports:
            fail(
                f"no scorer {scorer!r} has values on the labelled items; scorers: {', '.join(known) or '(none)'}"
            )
    if as_json:
        typer.echo(
            json.dumps({"source": source, **head, "scorers": [r.to_dict() for r in reports]}, indent=2)
        )
    else:
        _print_agreement(reports)


def _print_agreement(reports: list[Any]) -> None:
    from rich.table import Table

    out = console()
    if not reports:
        out.print("no scorer values on the labelled items")
        return
    table = Table(title="Agreement with human labels")
    for col in ("scorer", "n", "kappa", "w. kappa", "alpha", "r [95% CI]", "humans' alpha", "verdict"):
        table.add_column(col)
    for r in reports:
        corr = r.correlation
        shown_r = (
            "—" if corr is None else f"{corr['estimate']:.2f} [{corr['ci_low']:.2f}, {corr['ci_high']:.2f}]"
        )
        table.add_row(
            r.scorer,
            str(r.n),
            _fmt(r.cohen_kappa, 2),
            _fmt(r.weighted_kappa, 2),
            _fmt(r.krippendorff_alpha, 2),
            shown_r,
            _fmt(r.inter_annotator.get("krippendorff_alpha"), 2),
            r.verdict,
        )
    out.print(table)
    for r in reports:
        out.print(f"[bold]{r.scorer}[/]: {r.reason}")
        if r.test_retest:
            tr = r.test_retest
            out.print(
                f"  test–retest: ICC {tr['icc']:.2f}, {tr['n_changed']} of {tr['n']} verdicts changed on repeat"
            )
        for note in r.notes:
            out.print(f"  [dim]{note}[/]")


@app.command("estimate")
@handle_errors
def estimate_command(
    source: str | None = typer.Argument(
        None, help="A run id (or unique prefix) or a label queue (id or name)."
    ),
    scorer: str | None = typer.Option(
        None, "--scorer", help="The scorer (judge) whose values are corrected."
    ),
    label_queue: str | None = typer.Option(
        None, "--label-queue", help="With a run: the queue sampled from it whose labels to use."
    ),
    label_name: str | None = typer.Option(
        None, "--label-name", help="Which human label (default: the one the queue asks for)."
    ),
    judged: Path | None = typer.Option(
        None, "--judged", help="JSONL of {item_id, value}: judge values on ALL items."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="JSONL/CSV of {item_id, value, annotator?, inclusion_prob?}."
    ),
    metric: str | None = typer.Option(None, "--metric", help="Name of the metric in the output."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A metric from all judged items plus the human-labelled subset (PPI), beside judge-only and human-only.

    With a run id: the labels of the run's labelled queue (or --label-queue) against the run's scores.
    """
    from dataclasses import replace

    from assay.label.agreement import consensus
    from assay.label.estimate import estimate_for_queue, estimate_from_values
    from assay.label.io import read_inclusion_probs

    plain = _plain_inputs(judged, labels)
    if plain is not None:
        values, recs = plain
        pairs = [
            (r.item_id, r.annotator, float(r.value)) for r in recs if r.value is not None and not r.skipped
        ]
        human = consensus(pairs, discrete=len({v for _, _, v in pairs}) <= 10)
        assert labels is not None
        report = estimate_from_values(
            values,
            human,
            inclusion_prob=read_inclusion_probs(labels),
            metric=metric or (recs[0].name if recs else "label"),
            confidence=confidence,
        )
    else:
        from assay.label.runs import estimate_for_run

        st = open_store_or_fail(store)
        try:
            queue, run = _resolve(st, source, label_queue)
            if run is not None:
                _no_labels_check(st, run, store, label_queue)
                report = estimate_for_run(
                    st,
                    run.run_id,
                    scorer=scorer,
                    queue=label_queue,
                    label_name=label_name,
                    confidence=confidence,
                )
            else:
                report = estimate_for_queue(
                    st, queue.queue_id, scorer=scorer, label_name=label_name, confidence=confidence
                )
        finally:
            st.close()
        if metric:
            report = replace(report, metric=metric)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    pct = round(confidence * 100)
    judge = f" (judge: {report.scorer})" if report.scorer else ""
    table = Table(title=f"{escape(report.metric)}: three estimates{escape(judge)}")
    for col in ("estimate", "mean", f"{pct}% CI", "n"):
        table.add_column(col)
    for label, e in (
        ("judge only", report.judge_only),
        ("human only", report.human_only),
        ("PPI", report.ppi),
    ):
        table.add_row(label, f"{e.mean:.4f}", f"[{e.ci_low:.4f}, {e.ci_high:.4f}]", str(e.n))
    out = console()
    out.print(table)
    eff = "∞" if report.effective_n == float("inf") else f"{report.effective_n:.0f}"
    out.print(
        f"PPI used {report.n_labeled} human labels with judge weight λ={report.lam:.2f}; it is worth about "
        f"{eff} human labels alone{' (inverse-probability weighted)' if report.weighted else ''}."
    )
    for note in report.notes:
        out.print(f"[dim]note: {escape(note)}[/]")


def _choices(spec: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in spec.split(","):
        label, sep, value = part.partition("=")
        if not sep or not label.strip():
            raise typer.BadParameter(f"expected label=value pairs like yes=1,no=0, got {part!r}")
        try:
            out[label.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a number (in {part!r})") from None
    return out


@label_app.command("queue")
@handle_errors
def queue_command(
    run_id: str | None = typer.Argument(None, help="The run to sample from (omit with --events)."),
    n: int = typer.Option(100, "--n", min=1, help="How many items (on average for uncertainty sampling)."),
    strategy: str = typer.Option("random", "--strategy", help="random | stratified | uncertainty"),
    by: str | None = typer.Option(None, "--by", help="Strata: slice:<metadata key> or score:<scorer>."),
    score: str | None = typer.Option(None, "--score", help="Uncertainty of which scorer (default: all)."),
    overlap: float = typer.Option(
        0.1, "--overlap", min=0.0, max=1.0, help="Share of items for several annotators."
    ),
    overlap_k: int = typer.Option(2, "--overlap-k", min=2, help="Annotators per overlap item."),
    seed: int = typer.Option(0, "--seed"),
    name: str | None = typer.Option(None, "--name", help="Queue name (default: from the run)."),
    label_name: str = typer.Option("label", "--label-name", help="What the label is called, e.g. correct."),
    choices: str = typer.Option("yes=1,no=0", "--choices", help="Label choices as label=value pairs."),
    instructions: str = typer.Option("", "--instructions", help="Shown to annotators above the item."),
    events: bool = typer.Option(False, "--events", help="Sample monitored events instead of a run."),
    app_name: str | None = typer.Option(None, "--app", help="With --events: only this app."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Build a labelling queue from a run's results or from monitored events."""
    from assay.label.queue import candidates_from_events, candidates_from_run, create_queue

    rubric = {"name": label_name, "choices": _choices(choices), "instructions": instructions}
    st = open_store_or_fail(store)
    try:
        if events:
            if run_id:
                fail("give a run id or --events, not both")
            cands = candidates_from_events(st, app=app_name)
            source: dict[str, Any] = {"events": True, "app": app_name}
        else:
            if not run_id:
                fail("give a run id, or --events")
            run = st.find_run(run_id or "")
            cands = candidates_from_run(st, run.run_id)
            source = {"run_id": run.run_id, "suite": run.suite}
        q = create_queue(
            st,
            cands,
            n,
            name=name
            or (
                f"{source.get('suite')} {source.get('run_id', '')[:8]}"
                if not events
                else f"events {app_name or 'all'}"
            ),
            strategy=strategy,
            by=by,
            score=score,
            overlap=overlap,
            overlap_k=overlap_k,
            seed=seed,
            rubric=rubric,
            source=source,
        )
    finally:
        st.close()
    if as_json:
        typer.echo(
            json.dumps({"queue_id": q.queue_id, "name": q.name, "n_items": q.n_items, "source": q.source})
        )
        return
    console().print(
        f"queue [bold]{q.queue_id}[/] ({q.name}): {q.n_items} items of {len(cands)} by {strategy} sampling. "
        f"Label them at /label/{q.queue_id} in `assay serve`, or export with `assay label export {q.queue_id} -o FILE`."
    )


@label_app.command("list")
@handle_errors
def list_command(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Label queues with their progress."""
    from assay.store.labels import LabelStore

    st = open_store_or_fail(store)
    try:
        ls = LabelStore(st)
        rows = [ls.progress(q.queue_id) for q in ls.list_queues()]
    finally:
        st.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="Label queues")
    for col in ("queue", "name", "items", "labelled", "overlap done", "annotators"):
        table.add_column(col)
    for p in rows:
        table.add_row(
            p["queue_id"],
            p["name"],
            str(p["n_items"]),
            str(p["n_labelled"]),
            f"{p['n_overlap_done']}/{p['n_overlap']}",
            ", ".join(sorted(p["annotators"])) or "—",
        )
    console().print(table)


@label_app.command("import")
@handle_errors
def import_command(
    path: Path = typer.Argument(..., help="CSV or JSONL of labels (item_id, value, annotator?, name?, ...)."),
    queue: str | None = typer.Option(None, "--queue", help="Queue the labels belong to (rows may say)."),
    name: str | None = typer.Option(None, "--name", help="Label name for rows without one."),
    fmt: str | None = typer.Option(None, "--format", help="csv | jsonl (default: from the extension)."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Import labels into the store (an annotator's earlier label of the same item is replaced)."""
    from assay.label.io import read_labels
    from assay.store.labels import LabelStore

    st = open_store_or_fail(store)
    try:
        ls = LabelStore(st)
        q = ls.find_queue(queue) if queue else None
        recs = read_labels(
            path, fmt=fmt, queue_id=q.queue_id if q else None, name=name or (q.label_name if q else None)
        )
        if q is not None:
            known = {it.item_id for it in ls.items(q.queue_id)}
            unknown = [r.item_id for r in recs if r.item_id not in known]
            if unknown:
                fail(
                    f"{len(unknown)} label(s) name items that are not in queue {q.queue_id}, e.g. {unknown[0]!r}"
                )
        count = ls.add_labels(recs)
    finally:
        st.close()
    console().print(f"imported {count} label(s) from {path}")


@label_app.command("export")
@handle_errors
def export_command(
    queue: str = typer.Argument(..., help="The queue (id or name)."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write (.csv or .jsonl)."),
    fmt: str | None = typer.Option(None, "--format", help="csv | jsonl (default: from the extension)."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Export a queue's labels with the items' join keys and inclusion probabilities."""
    from assay.label.io import export_labels
    from assay.store.labels import LabelStore

    st = open_store_or_fail(store)
    try:
        ls = LabelStore(st)
        q = ls.find_queue(queue)
        items = {it.item_id: it for it in ls.items(q.queue_id)}
        count = export_labels(ls.labels(queue_id=q.queue_id), output, fmt=fmt, items=items)
    finally:
        st.close()
    console().print(f"wrote {count} label(s) to {output}")

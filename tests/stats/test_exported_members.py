"""The public API of assay.stats is a deliberate, documented list."""

from __future__ import annotations

import inspect

import assay.stats as stats

CONTRACT = {
    "wilson_interval",
    "bootstrap_ci",
    "quantile_ci",
    "paired_bootstrap",
    "mcnemar",
    "holm",
    "bh",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "ece",
    "brier",
    "risk_control_threshold",
    "ppi_mean_ci",
    "psi",
    "ks_2samp",
    "mde",
    "Comparison",
}


def test_all_exports_exist_and_are_sorted() -> None:
    assert stats.__all__ == sorted(stats.__all__)
    assert len(set(stats.__all__)) == len(stats.__all__)
    for name in stats.__all__:
        assert hasattr(stats, name), name


def test_contract_names_are_exported() -> None:
    assert set(stats.__all__) >= CONTRACT


def test_every_public_name_is_exported_and_documented() -> None:
    for name in stats.__all__:
        getattr(stats, name)  # names are imported from their modules on first use
    public = {n for n, v in vars(stats).items() if not n.startswith("_") and not inspect.ismodule(v)}
    public -= {"annotations"}
    assert public == set(stats.__all__)
    for name in stats.__all__:
        obj = getattr(stats, name)
        assert obj.__doc__ and len(obj.__doc__.strip()) > 30, name
        assert obj.__module__.startswith("assay.stats."), name


def test_importing_the_package_imports_no_submodule_until_a_name_is_used() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import assay.stats as s\n"
        "before = [m for m in sys.modules if m.startswith('assay.stats.')]\n"
        "s.wilson_interval(1, 2)\n"
        "after = [m for m in sys.modules if m.startswith('assay.stats.')]\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = json.loads(out)
    assert before == []
    assert "assay.stats.intervals" in after
    assert not {"assay.stats.calibration", "assay.stats.drift", "assay.stats.sequential"} & set(after)
    try:
        stats.no_such_function  # noqa: B018
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_functions_have_an_example() -> None:
    for name in stats.__all__:
        obj = getattr(stats, name)
        if inspect.isfunction(obj):
            assert ">>>" in (obj.__doc__ or ""), name


def test_contract_signatures() -> None:
    sig = inspect.signature(stats.bootstrap_ci)
    assert list(sig.parameters)[:1] == ["values"]
    for name, default in [
        ("statistic", "mean"),
        ("confidence", 0.95),
        ("n_resamples", 2000),
        ("method", "bca"),
        ("clusters", None),
        ("seed", 0),
    ]:
        assert sig.parameters[name].default == default
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(stats.wilson_interval).parameters["confidence"].default == 0.95
    assert inspect.signature(stats.ppi_mean_ci).parameters["tuned"].default is True
    assert inspect.signature(stats.ece).parameters["strategy"].default == "uniform"
    assert inspect.signature(stats.krippendorff_alpha).parameters["level"].default == "nominal"
    mde = inspect.signature(stats.mde).parameters
    assert (mde["alpha"].default, mde["power"].default, mde["paired"].default) == (0.05, 0.8, True)


def test_no_import_from_the_rest_of_assay_and_no_heavy_import() -> None:
    import pathlib
    import subprocess
    import sys

    for path in pathlib.Path(stats.__file__).parent.glob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith(("import ", "from ")) and "assay" in line:
                assert line.startswith("from assay.stats"), (path.name, line)
    code = "import sys, assay.stats; print(any(m.startswith(('scipy', 'sklearn')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    for name in ("intervals", "compare", "power", "ppi", "agreement", "calibration", "drift", "sequential"):
        module = importlib.import_module(f"assay.stats.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        assert result.attempted > 0, name
    assert doctest.testmod(stats, optionflags=doctest.ELLIPSIS).failed == 0

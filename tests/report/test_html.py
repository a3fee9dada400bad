"""The static HTML report: self-contained, escaped, and showing the store's numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assay.report.html import json_for_script, render_report, write_report
from assay.store import Store
from tests.report._seed import XSS_BREAKOUT, XSS_IMG, XSS_SCRIPT, Seeded

HOSTILE = [
    "</script><script>alert(1)</script>",
    "<!--",
    "a & b",
    "\u2028",
    '"quoted"',
    "<img src=x onerror=alert(1)>",
]


def test_json_for_script_round_trips_and_cannot_break_out() -> None:
    text = json_for_script({"values": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"values": HOSTILE}
    with pytest.raises(ValueError):
        json_for_script({"x": float("nan")})  # never a silent NaN


@pytest.fixture(scope="module")
def report_html(seeded: Seeded) -> str:
    from assay.store import open_store

    with open_store(seeded.url) as st:
        return render_report(st, seeded.base_id, compare=[seeded.cand_id])


def test_report_escapes_every_case_field(report_html: str) -> None:
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_BREAKOUT, 'onerror="alert(2)"'):
        assert payload not in report_html
    assert "&lt;img src=x onerror=" in report_html  # shown as text in the flipped-cases table
    # exactly the report's own scripts are executable, each carrying the CSP nonce
    scripts = re.findall(r"<script(?![^>]*type=\"application/json\")([^>]*)>", report_html)
    nonce = re.search(r"'nonce-([^']+)'", report_html)
    assert nonce and len(scripts) == 2 and all(f'nonce="{nonce.group(1)}"' in s for s in scripts)


def test_report_is_self_contained(report_html: str) -> None:
    markup = re.sub(r"<script[^>]*>.*?</script>", "", report_html, flags=re.S)  # plotly.js mentions URLs
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "default-src 'none'" in report_html  # the CSP also forbids any network fetch
    assert "cdn.plot.ly" not in markup and "Plotly.newPlot" in report_html
    assert "* plotly.js v" in report_html  # the library itself is inlined


def test_report_shows_the_stored_numbers_and_the_comparison(
    report_html: str, store: Store, seeded: Seeded
) -> None:
    summary = store.get_run(seeded.base_id).summary  # type: ignore[union-attr]
    em = summary["metrics"]["exact_match"]
    assert f'data-value="{em["mean"]}"' in report_html
    assert f"{em['ci_low']:.3f} – {em['ci_high']:.3f}" in report_html
    assert 'id="comparison-table"' in report_html and seeded.cand_id in report_html
    assert "threshold failed" in report_html
    assert "sk-SECRET" not in report_html  # secrets in a target spec never reach a page
    cases = json.loads(
        re.search(
            r'<script type="application/json" id="assay-cases">(.*?)</script>', report_html, re.S
        ).group(1)
    )  # type: ignore[union-attr]
    assert len(cases["rows"]) == len(seeded.cases)
    xss = next(r for r in cases["rows"] if r["id"] == "xss-script")
    assert (xss["in"], xss["ex"], xss["out"]) == (XSS_SCRIPT, XSS_BREAKOUT, XSS_SCRIPT)


def test_write_report_and_long_fields_are_clipped(tmp_path: Path, seeded: Seeded) -> None:
    from assay.store import open_store
    from tests.report._seed import make_cases, record_run

    url = f"sqlite:///{tmp_path / 'long.db'}"
    run = record_run(url, make_cases()[:3], lambda t: "x" * 10_000, run_id="long")
    with open_store(url) as st:
        out = write_report(st, run, tmp_path / "sub" / "r.html")
    html = out.read_text(encoding="utf-8")
    assert "x" * 2000 + "… [8000 more characters]" in html and "x" * 2001 not in html

"""Evaluation cards: an auditable summary of one run, in JSON and Markdown, with a tamper-evident manifest.

A card says what was evaluated (the target's spec, secrets removed), on what (dataset name, size, hash,
slices), how (scorers with versions and options, judge models, seed, environment), the results with 95%
intervals, what judging cost apart from the target (``judges``), the agreement of each scorer with the
human labels of the run's label queues and the PPI estimates (``human_labels``), known limitations (small
slices, wide intervals, failed items, judges without recorded human agreement or whose verdict is not
``fit``) and a plain-language risk summary for readers who do not read confidence intervals.

The manifest holds SHA-256 hashes of the run's inputs (cases, provenance) and results (outputs, scores,
summary) as stored, of its label queues and labels (``labels``), and of the card's own content. ``verify_card`` recomputes them: an edited card fails
its ``card`` hash, edited results in the store fail theirs.

Example:
    >>> card = build_card(store, run_id)                        # doctest: +SKIP
    >>> Path("card.json").write_text(json.dumps(card))          # doctest: +SKIP
    >>> verify_card(card, store).ok                             # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from assay.report.redact import redact
from assay.report.slices import SMALL_SLICE
from assay.types import AssayError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = ["CARD_VERSION", "Verification", "build_card", "card_markdown", "manifest_hashes", "verify_card"]

CARD_VERSION: Final = 1
WIDE_CI: Final = 0.2
"""A rate metric whose 95% interval is wider than this is reported as imprecise."""
LOW_AGREEMENT: Final = 0.6
"""A judge whose recorded agreement with humans (kappa or correlation) is below this is flagged."""

_FAILURE_PHRASES: Final = {
    "exact_match": "the answer did not match the expected answer",
    "contains": "the answer did not contain the required text",
    "regex": "the answer did not match the required pattern",
    "json_valid": "the output was not valid JSON",
    "json_schema": "the output did not follow the required JSON schema",
    "numeric": "the number given was outside the tolerance of the expected value",
}


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
        "utf-8"
    )


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj)).hexdigest()


def manifest_hashes(store: Store, run_id: str) -> dict[str, str]:
    """SHA-256 of a run's stored cases, outputs, scores, summary and provenance (streamed, in store order).

    Each result contributes one canonical JSON line per hash, so the hashes change if any case, output,
    score, the summary or the provenance changes, and do not depend on how the store is queried.
    """
    run = store.get_run(run_id)
    if run is None:
        raise AssayError(f"no run {run_id!r} in {store.safe_url}")
    cases, outputs, scores = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    n = 0
    for r in store.iter_results(run_id):
        n += 1
        key = [r.case_id, r.repeat]
        cases.update(_canonical([*key, r.case]) + b"\n")
        outputs.update(_canonical([*key, r.output, r.error_kind, r.error_message]) + b"\n")
        scores.update(_canonical([*key, r.scores]) + b"\n")
    return {
        "cases": cases.hexdigest(),
        "outputs": outputs.hexdigest(),
        "scores": scores.hexdigest(),
        "summary": _sha(run.summary),
        "provenance": _sha(run.provenance),
        "n_results": str(n),
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _judge_models(scorers: list[dict[str, Any]], judged: Collection[str] = ()) -> list[dict[str, Any]]:
    """The scorers judged by a model: named ``*judge*``, naming a model, carrying a judge spec (the
    ``rubric``/``pairwise`` family records ``{"judge": {"target": {...}}}``), or in ``judged`` (scorers
    whose stored scores carry judge usage)."""
    out = []
    for s in scorers:
        opts = s.get("options") or {}
        raw_judge = opts.get("judge") if isinstance(opts.get("judge"), dict) else s.get("judge")
        judge: dict[str, Any] = raw_judge if isinstance(raw_judge, dict) else {}
        raw_target = judge.get("target")
        target: dict[str, Any] = raw_target if isinstance(raw_target, dict) else {}
        model = opts.get("model") or opts.get("judge_model") or judge.get("model") or target.get("model")
        if model or judge or "judge" in str(s.get("scorer", "")) or s.get("name") in judged:
            out.append({"scorer": s.get("name"), "model": model})
    return out


def _human_verdicts(human: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per scorer, its agreement reports (with the queue they come from) from the card's human labels."""
    out: dict[str, list[dict[str, Any]]] = {}
    for q in human:
        for sc in q.get("scorers") or []:
            ag = sc.get("agreement")
            if ag:
                out.setdefault(sc["scorer"], []).append(
                    {**ag, "queue": q.get("name"), "label": q.get("label_name")}
                )
    return out


def _limitations(
    run: Any,
    summary: dict[str, Any],
    slices: list[Any],
    scorers: list[dict[str, Any]],
    *,
    human: list[dict[str, Any]] | None = None,
    judged: Collection[str] = (),
) -> list[str]:
    out: list[str] = []
    if run.status != "completed":
        out.append(
            f"The run did not complete (status: {run.status}); results cover only the cases that finished."
        )
    n_results = summary.get("n_results") or 0
    for name, m in (summary.get("metrics") or {}).items():
        n, errors = m.get("n", 0), m.get("n_errors", 0)
        if errors:
            out.append(
                f"{name}: {errors} of {n + errors} items have no value (the call or the scorer failed); they are excluded from the mean, not counted as wrong."
            )
        lo, hi = m.get("ci_low"), m.get("ci_high")
        if (
            m.get("kind") in ("binary", "proportion")
            and lo is not None
            and hi is not None
            and hi - lo > WIDE_CI
        ):
            out.append(
                f"{name}: the 95% interval is wide ({_pct(lo)} to {_pct(hi)}); more cases are needed for a precise estimate."
            )
    small = [s for s in slices if s.n < SMALL_SLICE]
    for s in small[:10]:
        out.append(
            f"Slice {s.key}={s.value} has only {s.n} cases: its numbers are indicative, not conclusive."
        )
    if len(small) > 10:
        out.append(f"{len(small) - 10} more slices have fewer than {SMALL_SLICE} cases.")
    verdicts = _human_verdicts(human or [])
    for name, reports in sorted(verdicts.items()):
        for ag in reports:
            if ag.get("verdict") != "fit":
                out.append(
                    f"{name}: agreement with human labels ({ag['label']!s} in queue {ag['queue']!s}, n={ag.get('n')}) is {ag.get('verdict')}: {ag.get('reason')}"
                )
    for j in _judge_models(scorers, judged):
        if j["scorer"] in verdicts:
            continue  # measured against the run's own human labels: reported above when not fit
        spec = next((s for s in scorers if s.get("name") == j["scorer"]), {})
        agreement = spec.get("human_agreement") or (spec.get("options") or {}).get("human_agreement")
        value = agreement.get("value") if isinstance(agreement, dict) else agreement
        if value is None:
            out.append(
                f"{j['scorer']} is scored by an LLM judge ({j['model'] or 'model not recorded'}) with no recorded agreement with human labels."
            )
        elif float(value) < LOW_AGREEMENT:
            out.append(
                f"{j['scorer']}: the judge's agreement with human labels is low ({float(value):.2f}); treat its scores with caution."
            )
    git = (run.provenance or {}).get("git") or {}
    if git.get("dirty"):
        out.append(
            "The code had uncommitted changes when the run was made (git tree dirty): the exact version cannot be recovered."
        )
    if not (run.provenance or {}).get("dataset_sha256"):
        out.append("No dataset hash was recorded: the exact data cannot be identified.")
    if n_results and n_results < SMALL_SLICE:
        out.append(f"Only {n_results} results: every number in this card is imprecise.")
    return out


def _risk_summary(summary: dict[str, Any]) -> list[str]:
    from assay import stats

    out: list[str] = []
    n_results = summary.get("n_results") or 0
    n_err = summary.get("n_errors") or 0
    if n_err and n_results:
        lo, hi = stats.wilson_interval(n_err, n_results)
        kinds = ", ".join(f"{k}: {v}" for k, v in (summary.get("errors_by_kind") or {}).items())
        out.append(
            f"In {n_err} of {n_results} cases ({_pct(n_err / n_results)}, 95% CI {_pct(lo)}–{_pct(hi)}) the system gave no answer at all ({kinds})."
        )
    for name, m in (summary.get("metrics") or {}).items():
        n, mean = m.get("n", 0), m.get("mean")
        if not n or mean is None or m.get("kind") != "binary":
            continue
        hib = m.get("higher_is_better", True)
        bad = round(n * (1 - mean)) if hib else round(n * mean)
        if bad == 0:
            out.append(
                f"{name}: no failure in {n} cases (95% CI for the failure rate 0–{_pct(stats.wilson_interval(0, n)[1])})."
            )
            continue
        lo, hi = stats.wilson_interval(bad, n)
        what = _FAILURE_PHRASES.get(name) if hib else None
        what = what or (f"the output failed the {name} check" if hib else f"the output was flagged by {name}")
        out.append(f"In {bad} of {n} cases ({_pct(bad / n)}, 95% CI {_pct(lo)}–{_pct(hi)}) {what}.")
    for name, t in (summary.get("thresholds") or {}).items():
        bound = " and ".join(
            x
            for x in (
                f"at least {t['min']:g}" if t.get("min") is not None else "",
                f"at most {t['max']:g}" if t.get("max") is not None else "",
            )
            if x
        )
        value = t.get("value")
        got = "no value" if value is None else f"{value:.3g}"
        verdict = "meets the bar" if t.get("passed") else "does NOT meet the bar"
        out.append(f"The suite requires {name} {bound}; this run reached {got}, so it {verdict}.")
    lat = summary.get("latency_s") or {}
    if lat.get("p50") is not None and lat.get("p95") is not None:
        out.append(f"Half of the answers took under {lat['p50']:.2g} s; 95% took under {lat['p95']:.2g} s.")
    return out


def build_card(store: Store, run_id: str) -> dict[str, Any]:
    """The evaluation card of one run (id or unique prefix) as a JSON-ready dict, manifest included."""
    from assay.report.judges import labels_hash
    from assay.report.view import build_run_view, run_header

    view = build_run_view(store, run_id)  # provenance and config already redacted
    run, summary = view.run, view.summary
    prov = run.provenance or {}
    scorers = [s for s in prov.get("scorers") or [] if isinstance(s, dict)]
    human = [q.to_dict() for q in view.human]
    slice_sizes: dict[str, dict[str, int]] = {}
    for s in view.slices:
        slice_sizes.setdefault(s.key, {})[s.value] = s.n
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_header(run),
        "evaluated": {"suite": run.suite, "target": redact(prov.get("target")), "config": run.config},
        "data": {
            "dataset_name": prov.get("dataset_name"),
            "dataset_source": prov.get("dataset_source"),
            "dataset_sha256": prov.get("dataset_sha256"),
            "suite_sha256": prov.get("suite_sha256"),
            "n_cases": prov.get("n_cases", summary.get("n_cases")),
            "n_results": view.n_results,
            "slices": slice_sizes,
        },
        "method": {
            "scorers": scorers,
            "judge_models": _judge_models(scorers, {j.scorer for j in view.judges}),
            "seed": prov.get("seed"),
            "repeats": (run.config or {}).get("repeats", summary.get("repeats", 1)),
            "environment": {k: prov.get(k) for k in ("python", "platform", "packages", "git") if k in prov},
        },
        "results": {
            "passed": view.passed,
            "metrics": summary.get("metrics") or {},
            "thresholds": view.thresholds,
            "n_errors": summary.get("n_errors", 0),
            "errors_by_kind": view.errors_by_kind,
            "latency_s": summary.get("latency_s") or {},
            "tokens": summary.get("tokens") or {},
            "cost_usd": summary.get("cost_usd"),
            "worst_slices": [s.to_dict() for s in view.slices[:5]],
        },
        "judges": {
            "per_scorer": {j.scorer: j.to_dict() for j in view.judges},
            "total": view.judge_totals,
        },
        "human_labels": human,
        "limitations": _limitations(
            run,
            {**summary, "n_results": view.n_results},
            view.slices,
            scorers,
            human=human,
            judged={j.scorer for j in view.judges},
        ),
        "risk_summary": _risk_summary(
            {**summary, "n_results": view.n_results, "n_errors": sum(view.errors_by_kind.values())}
        ),
    }
    card["manifest"] = {
        "algorithm": "sha256",
        **manifest_hashes(store, run.run_id),
        "labels": labels_hash(store, run.run_id),
    }
    card["manifest"]["card"] = card_hash(card)
    return card


def card_hash(card: dict[str, Any]) -> str:
    """SHA-256 of the card's content: everything except the ``manifest.card`` field itself."""
    body = dict(card)
    manifest = dict(body.get("manifest") or {})
    manifest.pop("card", None)
    body["manifest"] = manifest
    return _sha(body)


@dataclass
class Verification:
    """What ``verify_card`` checked: each item with the hash in the card and the one recomputed."""

    checks: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(expected == actual for _, expected, actual in self.checks)

    @property
    def mismatches(self) -> list[str]:
        return [name for name, expected, actual in self.checks if expected != actual]


def verify_card(card: dict[str, Any], store: Store | None = None) -> Verification:
    """Recompute the card's own hash and, when ``store`` holds the run, the hashes of its data.

    Example:
        >>> result = verify_card(json.loads(Path("card.json").read_text()), store)   # doctest: +SKIP
        >>> result.ok, result.mismatches                                             # doctest: +SKIP
        (False, ['scores'])
    """
    if not isinstance(card, dict) or not isinstance(card.get("manifest"), dict):
        raise AssayError(
            "not an assay evaluation card: it has no 'manifest' (give the card.json written by `assay card --json`)"
        )
    manifest = card["manifest"]
    result = Verification()
    result.checks.append(("card", manifest.get("card"), card_hash(card)))
    run_id = (card.get("run") or {}).get("run_id")
    if store is None:
        result.notes.append("store not checked: no store given")
        return result
    if not run_id or store.get_run(run_id) is None:
        result.notes.append(f"store not checked: run {run_id!r} is not in {store.safe_url}")
        return result
    actual = manifest_hashes(store, run_id)
    for name in ("cases", "outputs", "scores", "summary", "provenance", "n_results"):
        result.checks.append((name, manifest.get(name), actual[name]))
    if "labels" in manifest:
        from assay.report.judges import labels_hash

        result.checks.append(("labels", manifest.get("labels"), labels_hash(store, run_id)))
    else:
        result.notes.append("labels not checked: this card's manifest has no 'labels' hash")
    return result


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell (and inert if the Markdown is rendered as HTML)."""
    text = "–" if value is None else str(value)
    for ch, rep in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("`", "\\`"),
        ("*", "\\*"),
        ("_", "\\_"),
        ("[", "\\["),
        ("]", "\\]"),
    ):
        text = text.replace(ch, rep)
    return " ".join(text.split())


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown for people; the JSON form is the one ``--verify`` checks."""
    run, data, method, res = card["run"], card["data"], card["method"], card["results"]
    lines = [
        f"# Evaluation card: {_md(run['suite'])}",
        "",
        f"Run {_md(run['run_id'])} · status {_md(run['status'])} · started {_md(run['created_at'])} · card generated {_md(card['generated_at'])}",
        "",
        "## Summary for non-specialists",
        "",
        *[f"- {_md(s)}" for s in card["risk_summary"]],
        "",
        "## What was evaluated",
        "",
        f"- Suite: {_md(card['evaluated']['suite'])}",
        f"- Target: {_md(json.dumps(card['evaluated']['target'], sort_keys=True))} (secrets removed)",
        "",
        "## Data",
        "",
        f"- Dataset: {_md(data.get('dataset_name'))} ({_md(data.get('dataset_source'))})",
        f"- Size: {_md(data.get('n_cases'))} cases, {_md(data.get('n_results'))} results",
        f"- Dataset SHA-256: {_md(data.get('dataset_sha256'))}",
    ]
    for key, values in (data.get("slices") or {}).items():
        lines.append(f"- Slices by {_md(key)}: " + ", ".join(f"{_md(v)} ({n})" for v, n in values.items()))
    lines += ["", "## Method", "", "| scorer | implementation | version | options |", "|---|---|---|---|"]
    for s in method["scorers"]:
        lines.append(
            f"| {_md(s.get('name'))} | {_md(s.get('scorer'))} | {_md(s.get('version'))} | {_md(json.dumps(s.get('options') or {}, sort_keys=True))} |"
        )
    if method.get("judge_models"):
        lines.append("")
        lines += [f"- Judge for {_md(j['scorer'])}: {_md(j['model'])}" for j in method["judge_models"]]
    env = method.get("environment") or {}
    git = env.get("git") or {}
    lines += [
        "",
        f"- Seed: {_md(method.get('seed'))}; repeats per case: {_md(method.get('repeats'))}",
        f"- Python {_md(env.get('python'))}; packages: {_md(', '.join(f'{k} {v}' for k, v in (env.get('packages') or {}).items()))}",
        f"- Git commit: {_md(git.get('commit'))}{' (uncommitted changes)' if git.get('dirty') else ''}",
        "",
        "## Results",
        "",
        f"Thresholds: {'passed' if res['passed'] else 'not set' if res['passed'] is None else 'FAILED'}",
        "",
        "| metric | mean | 95% CI | n | errors | threshold |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in res["metrics"].items():
        t = res["thresholds"].get(name)
        th = (
            "–"
            if not t
            else ("passed" if t.get("passed") else "failed")
            + "".join(f" {k} {t[k]:g}" for k in ("min", "max") if t.get(k) is not None)
        )
        lines.append(
            f"| {_md(name)} | {_num(m.get('mean'))} | {_num(m.get('ci_low'))} – {_num(m.get('ci_high'))} | {m.get('n')} | {m.get('n_errors')} | {th} |"
        )
    if res.get("worst_slices"):
        lines += ["", "Worst slices:", ""]
        for s in res["worst_slices"]:
            ms = ", ".join(f"{_md(k)} {_num(v.get('mean'))}" for k, v in s["metrics"].items())
            lines.append(f"- {_md(s['key'])}={_md(s['value'])} (n={s['n']}): {ms}")
    lines += _judges_markdown(card.get("judges") or {}, res)
    lines += _human_markdown(card.get("human_labels") or [])
    lines += ["", "## Known limitations", ""]
    lines += [f"- {_md(x)}" for x in card["limitations"]] or ["- none detected"]
    lines += ["", "## Manifest (SHA-256)", "", "| item | sha256 |", "|---|---|"]
    lines += [f"| {_md(k)} | {_md(v)} |" for k, v in card["manifest"].items() if k != "algorithm"]
    lines += ["", "Verify the JSON form of this card with `assay card --verify card.json --store URL`.", ""]
    return "\n".join(lines)


def _judges_markdown(judges: dict[str, Any], res: dict[str, Any]) -> list[str]:
    per = judges.get("per_scorer") or {}
    if not per:
        return []
    tok = res.get("tokens") or {}
    lines = [
        "",
        "## Judges",
        "",
        f"What judging cost, apart from the evaluated target (target: {_md(tok.get('input', 0))} / {_md(tok.get('output', 0))} tokens in / out, {_num(res.get('cost_usd'), 4)} USD).",
        "",
        "| judge scorer | scores | calls | cache hits | input tokens | output tokens | cost (USD) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = list(per.values())
    if len(rows) > 1 and judges.get("total"):
        rows.append({"scorer": "all judges", "n": "", **judges["total"]})
    for j in rows:
        lines.append(
            f"| {_md(j['scorer'])} | {_md(j.get('n'))} | {j['calls']} | {j['cached']} | {j['input_tokens']} | {j['output_tokens']} | {_num(j.get('cost_usd'), 6)} |"
        )
    return lines


def _interval(e: dict[str, Any]) -> str:
    return f"{_num(e.get('mean'))} ({_num(e.get('ci_low'))} – {_num(e.get('ci_high'))}, n={e.get('n')})"


def _human_markdown(human: list[dict[str, Any]]) -> list[str]:
    if not human:
        return []
    lines = ["", "## Agreement with human labels", ""]
    for q in human:
        lines += [
            f"Queue {_md(q['name'])} ({_md(q['queue_id'])}): label {_md(q['label_name'])}, {q['n_labelled']} of {q['n_items']} items labelled by {len(q['annotators'])} annotator(s).",
            "",
        ]
        lines += [f"- {_md(n)}" for n in q.get("notes") or []]
        if not q.get("scorers"):
            continue
        lines += [
            "| scorer | n | kappa | alpha | correlation (95% CI) | verdict | scorer only | humans only | PPI |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for sc in q["scorers"]:
            ag, est = sc.get("agreement") or {}, sc.get("estimate") or {}
            corr = ag.get("correlation")
            shown_corr = (
                "–"
                if not corr
                else f"{_num(corr['estimate'])} ({_num(corr['ci_low'])} – {_num(corr['ci_high'])})"
            )
            kappa = (
                ag.get("weighted_kappa") if ag.get("weighted_kappa") is not None else ag.get("cohen_kappa")
            )
            cells = (
                [_interval(est["judge_only"]), _interval(est["human_only"]), _interval(est["ppi"])]
                if est
                else ["–", "–", "–"]
            )
            lines.append(
                f"| {_md(sc['scorer'])} | {_md(ag.get('n'))} | {_num(kappa)} | {_num(ag.get('krippendorff_alpha'))} | {shown_corr} | {_md(ag.get('verdict'))} | "
                + " | ".join(cells)
                + " |"
            )
        notes = [f"{sc['scorer']}: {n}" for sc in q["scorers"] for n in sc.get("notes") or []]
        lines += [""] + [f"- {_md(n)}" for n in notes] if notes else []
        lines.append("")
    return lines

"""The closing report of a pipeline run: counts per stage, acceptance per relation, tokens, cost and time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skd.pipeline.config import PipelineConfig

__all__ = ["REPORT_NAME", "build_report", "render_markdown", "stage_summary", "write_report"]

REPORT_NAME = "report"
_USAGE_KEYS = ("requests", "prompt_tokens", "completion_tokens", "tokens", "cost")


def _f(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def stage_summary(name: str, counts: dict[str, Any]) -> str:
    """One line on what a stage made, from its recorded counts."""
    c = counts or {}
    if c.get("disabled"):
        return "disabled in the config"
    if name == "events" and c.get("from_file"):
        return f"{c.get('events')} events from {c.get('from_file')}"
    if name == "events":
        return (
            f"{c.get('events')} events of {c.get('wanted')} wanted from {c.get('prompts')} prompts "
            f"({c.get('rejected')} rejected, {c.get('duplicates')} duplicates)"
        )
    if name == "inferences":
        return (
            f"{c.get('triples')} triples for {c.get('pairs')} (event, relation) pairs of {c.get('events')} events "
            f"({c.get('rejected')} rejected, {c.get('duplicates')} duplicates)"
        )
    if name == "critic":
        m = c.get("metrics") or {}
        labels = c.get("labels") or {}
        made = (
            f"trained on {labels.get('positives')} weak positives + {labels.get('negatives_total')} negatives"
            if c.get("source") != "existing"
            else "an existing critic"
        )
        return (
            f"{made}; validation ROC-AUC {_f(m.get('roc_auc'))}; "
            f"{c.get('heldout_events')} events held out for evaluation"
        )
    if name == "filter":
        sel = c.get("selection") or {}
        return (
            f"{c.get('accepted')} of {c.get('total')} accepted ({_f(c.get('rate'))}) at recall level "
            f"{sel.get('recall_level')} (cutoff {_f(sel.get('cutoff'))})"
        )
    if name == "load":
        g = c.get("graph") or {}
        return (
            f"{c.get('loaded')} triples loaded; the graph ({g.get('backend')}) now holds {g.get('events')} events, "
            f"{g.get('triples')} triples"
        )
    if name == "student":
        return (
            f"{c.get('steps')} steps on {c.get('train_triples')} triples (+{c.get('val_triples')} validation); "
            f"best validation loss {_f(c.get('best_val_loss'))}"
        )
    if name == "evaluate":
        systems = c.get("systems") or {}
        parts = [
            f"{s} BLEU-1 {_f(r.get('bleu1'))}, accepted {_f(r.get('critic_accepted'))}" for s, r in systems.items()
        ]
        return f"{c.get('pairs')} held-out pairs: " + "; ".join(parts)
    return json.dumps(c, default=str)[:200]


def _sum_usage(usages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, float] = dict.fromkeys(_USAGE_KEYS, 0)
    for u in usages:
        for k in _USAGE_KEYS:
            out[k] += u.get(k, 0) or 0
    out["cost"] = round(float(out["cost"]), 6)
    return out


def build_report(
    config: PipelineConfig, state: dict[str, Any], statuses: Sequence[tuple[str, str]], run_dir: Path
) -> dict[str, Any]:
    """The report as JSON-ready data, from the state file and what this session did per stage."""
    from skd.pipeline.stages import STAGES

    records = state.get("stages", {})
    status = dict(statuses)
    stages = []
    for stage in STAGES:
        rec = records.get(stage.name)
        if rec is None:
            continue
        done = rec.get("status") == "done"
        stages.append(
            {
                "name": stage.name,
                "title": stage.title,
                "status": status.get(stage.name, "not run") if done else "unfinished",
                "seconds": rec.get("seconds"),
                "cpu_seconds": rec.get("cpu_seconds"),
                "finished": rec.get("finished"),
                "summary": stage_summary(stage.name, rec.get("counts", {})) if done else "",
            }
        )
    usage = {name: rec["usage"] for name, rec in records.items() if rec.get("usage")}
    usage["total"] = _sum_usage(list(usage.values()))
    filt = records.get("filter", {}).get("counts", {})
    student = records.get("student", {}).get("counts", {})
    evaluation = None
    md = run_dir / "evaluation.md"
    if records.get("evaluate", {}).get("status") == "done" and md.exists():
        evaluation = md.read_text(encoding="utf-8")
    return {
        "run": {
            "name": config.run.name,
            "dir": str(run_dir),
            "teacher": config.teacher.model,
            "relations": config.run.relation_names,
            "created": state.get("created"),
            "updated": state.get("updated"),
        },
        "stages": stages,
        "seconds": {
            "this_session": round(sum(s["seconds"] or 0 for s in stages if s["status"] == "ran"), 2),
            "all_stages": round(sum(s["seconds"] or 0 for s in stages), 2),
            "cpu_all_stages": round(sum(s["cpu_seconds"] or 0 for s in stages), 2),
        },
        "counts": {name: rec.get("counts", {}) for name, rec in records.items()},
        "acceptance": {
            "by_relation": filt.get("by_relation", {}),
            "total": filt.get("total"),
            "accepted": filt.get("accepted"),
            "rate": filt.get("rate"),
            "selection": filt.get("selection"),
        },
        "usage": usage,
        "student": {"trained_on": student.get("trained_on"), "path": str(run_dir / "student") if student else None},
        "evaluation_markdown": evaluation,
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The report for people: stages, acceptance per relation, teacher usage, the student and its evaluation."""
    run = report["run"]
    lines = [
        f"# Pipeline run `{run['name']}`",
        "",
        f"Run folder `{run['dir']}`; teacher `{run['teacher']}`; relations {', '.join(run['relations'])}.",
        "",
        "## Stages",
        "",
        "| stage | status | seconds | CPU seconds | result |",
        "|---|---|---:|---:|---|",
    ]
    for s in report["stages"]:
        lines.append(
            f"| {s['title']} | {s['status']} | {_f(s['seconds'], 1)} | {_f(s['cpu_seconds'], 1)} | {s['summary']} |"
        )
    secs = report["seconds"]
    lines += [
        "",
        f"Time: {secs['this_session']:.1f} s in this session, {secs['all_stages']:.1f} s over all stages "
        f"({secs['cpu_all_stages']:.1f} CPU seconds); a skipped stage shows the time it took when it ran.",
        "",
    ]
    acc = report["acceptance"]
    if acc.get("by_relation"):
        lines += [
            "## Critic acceptance per relation",
            "",
            "| relation | generated | accepted | rate | promised precision |",
            "|---|---:|---:|---:|---:|",
        ]
        for rel, row in acc["by_relation"].items():
            promised = row.get("promised_precision")
            cell = "–" if promised is None else f"{promised:.2f}"
            lines.append(f"| {rel} | {row['generated']} | {row['accepted']} | {row['rate']:.1%} | {cell} |")
        selection = acc.get("selection") or {}
        overall = selection.get("validation_precision")
        lines.append(
            f"| **all** | {acc['total']} | {acc['accepted']} | {(acc['rate'] or 0):.1%} | "
            f"{'–' if overall is None else f'{overall:.2f}'} |"
        )
        lines += ["", f"Promised precision: {selection.get('calibration', '(not recorded)')}.", ""]
    lines += [
        "## Teacher tokens and cost",
        "",
        "| stage | requests | prompt tokens | completion tokens | cost ($) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, u in report["usage"].items():
        label = "**total**" if name == "total" else name
        lines.append(
            f"| {label} | {u.get('requests', 0)} | {u.get('prompt_tokens', 0)} | "
            f"{u.get('completion_tokens', 0)} | {float(u.get('cost', 0) or 0):.4f} |"
        )
    lines.append("")
    if report["student"].get("trained_on"):
        lines += [
            "## Student",
            "",
            f"Trained on {report['student']['trained_on']}; saved in `{report['student']['path']}`.",
            "",
        ]
    if report.get("evaluation_markdown"):
        lines += ["## Student against teacher (held-out events)", "", report["evaluation_markdown"].strip(), ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], run_dir: Path) -> tuple[Path, Path]:
    """`report.json` and `report.md` in the run folder."""
    js, md = run_dir / f"{REPORT_NAME}.json", run_dir / f"{REPORT_NAME}.md"
    js.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    md.write_text(render_markdown(report), encoding="utf-8")
    return js, md

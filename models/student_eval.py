"""Evaluating inference writers against references: BLEU-1..4, ROUGE-L and the critic's acceptance, side by side.

As in COMET-ATOMIC 2020's evaluation, each system's top output for an (event, relation) pair is
scored against *all* reference tails of that pair: corpus BLEU-n (sacrebleu, lower-cased, 13a
tokens, cumulative n-gram orders 1..n) and ROUGE-L (rouge-score, the best F over the references,
averaged over pairs). The critic scores every output a system gave and counts the share at or above
its cutoff for a recall level. Scores are fractions in [0, 1], as the COMET paper reports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skd.core.errors import InputError
from skd.graph_schema.records import Triple
from skd.graph_schema.text import clean_text, is_none_tail, text_key
from skd.graph_schema.triples_io import read_triples, triple_files

if TYPE_CHECKING:
    from skd.models.critic import Critic
    from skd.models.student import Student

__all__ = [
    "METRICS",
    "Outputs",
    "Pair",
    "References",
    "critic_acceptance",
    "evaluate",
    "read_references",
    "render_markdown",
    "student_outputs",
    "teacher_outputs_from_run",
    "text_metrics",
    "write_report",
]

#: (event key, relation name): what references and outputs are grouped by.
Pair = tuple[str, str]
#: A system's outputs: best first, per pair.
Outputs = dict[Pair, list[str]]
METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rougeL")


@dataclass
class References:
    """Reference tails per pair (`none` tails left out) and the display text of each event."""

    pairs: dict[Pair, list[str]] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def requests(self) -> list[tuple[str, str]]:
        return [(self.heads[k], rel) for k, rel in self.pairs]


def group_triples(triples: Iterable[Triple]) -> tuple[Outputs, dict[str, str]]:
    """Tails per (event key, relation) in the order met, duplicates and `none` dropped."""
    out: Outputs = {}
    heads: dict[str, str] = {}
    for t in triples:
        if is_none_tail(t.tail):
            continue
        key = text_key(t.head)
        heads.setdefault(key, t.head)
        tails = out.setdefault((key, t.relation), [])
        if text_key(t.tail) not in {text_key(x) for x in tails}:
            tails.append(t.tail)
    return out, heads


def read_references(path: str | Path, limit_pairs: int | None = None) -> References:
    """References from an ATOMIC-style TSV or our JSONL (or a folder of them)."""
    triples = [n.triple for f in triple_files(Path(path)) for n in read_triples(f, strict=True)]
    pairs, heads = group_triples(triples)
    if limit_pairs is not None:
        pairs = dict(list(pairs.items())[:limit_pairs])
    if not pairs:
        raise InputError(f"{path}: no references (every tail was `none`, or the file is empty)")
    return References(pairs, heads, str(path))


def teacher_outputs_from_run(path: str | Path) -> Outputs:
    """A teacher's outputs from a run folder (or triples file): its tails per pair, those with a
    higher recorded log-probability first when the run recorded one."""
    triples = [n.triple for f in triple_files(Path(path)) for n in read_triples(f)]
    triples.sort(key=lambda t: -float(t.provenance.get("logprob", 0.0) or 0.0))
    return group_triples(triples)[0]


def student_outputs(student: Student, refs: References, n: int = 1, decoding: str = "greedy") -> Outputs:
    """A student's outputs for the reference pairs (greedy by default: the COMET evaluation's setting)."""
    keys = list(refs.pairs)
    gens = student.generate(refs.requests(), n=n, decoding=decoding)
    return {k: [g.text for g in gs] for k, gs in zip(keys, gens, strict=True)}


def text_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 and mean ROUGE-L F of one hypothesis per item against its references."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics.bleu import BLEU

    if not hypotheses:
        return dict.fromkeys(METRICS, 0.0)
    hyps = [h.lower() for h in hypotheses]
    width = max(len(r) for r in references)
    # sacrebleu takes reference streams; a pair with fewer references is padded with None (which sacrebleu
    # handles but its annotations do not allow)
    streams: Any = [[r[i].lower() if i < len(r) else None for r in references] for i in range(width)]
    out = {f"bleu{n}": BLEU(max_ngram_order=n).corpus_score(hyps, streams).score / 100 for n in range(1, 5)}
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [
        scorer.score_multi([r.lower() for r in refs], h)["rougeL"].fmeasure if h else 0.0
        for h, refs in zip(hyps, references, strict=True)
    ]
    out["rougeL"] = sum(rouge) / len(rouge)
    return out


def critic_acceptance(critic: Critic, heads: Mapping[str, str], outputs: Outputs, cutoff: float) -> dict[str, Any]:
    """Share of all outputs the critic scores at or above `cutoff`, and their mean score."""
    items = [(heads[key], rel, tail) for (key, rel), tails in outputs.items() for tail in tails]
    if not items:
        return {"scored": 0, "accepted": 0.0, "mean_score": None}
    scores = critic.score(items)
    return {
        "scored": len(scores),
        "accepted": sum(s >= cutoff for s in scores) / len(scores),
        "mean_score": sum(scores) / len(scores),
    }


def evaluate(
    refs: References,
    systems: Mapping[str, Outputs],
    names: Mapping[str, str] | None = None,
    critic: Critic | None = None,
    recall_level: float | None = None,
    common_pairs: bool = True,
    references_acceptance: bool = True,
    examples: int = 5,
) -> dict[str, Any]:
    """The report: per system BLEU-1..4, ROUGE-L and critic acceptance on the same pairs.

    With `common_pairs`, only pairs every system answered are scored (a teacher run may cover part
    of the references); the report says how many pairs that left. A pair a system answered with
    nothing counts as an empty output.
    """
    if not systems:
        raise InputError("no systems to evaluate")
    keys = [k for k in refs.pairs if not common_pairs or all(k in out for out in systems.values())]
    if not keys:
        raise InputError("no reference pair was answered by every system")
    report: dict[str, Any] = {
        "references": {
            "source": refs.source,
            "pairs": len(keys),
            "pairs_in_file": len(refs.pairs),
            "events": len({k for k, _ in keys}),
            "relations": sorted({r for _, r in keys}),
            "reference_tails": sum(len(refs.pairs[k]) for k in keys),
        },
        "critic": None,
        "systems": {},
        "examples": [],
    }
    cutoff = 0.0
    if critic is not None:
        cutoff = critic.cutoff(recall_level=recall_level)
        report["critic"] = {"name": critic.name, "recall_level": recall_level, "cutoff": cutoff}
    for system, out in systems.items():
        answered = {k: out.get(k, []) for k in keys}
        row: dict[str, Any] = {
            "name": (names or {}).get(system, system),
            "outputs": sum(map(len, answered.values())),
            "empty_pairs": sum(1 for v in answered.values() if not v),
        }
        row.update(text_metrics([v[0] if v else "" for v in answered.values()], [refs.pairs[k] for k in keys]))
        if critic is not None:
            acc = critic_acceptance(critic, refs.heads, answered, cutoff)
            row.update(critic_accepted=acc["accepted"], critic_mean_score=acc["mean_score"])
        report["systems"][system] = row
    if critic is not None and references_acceptance:
        acc = critic_acceptance(critic, refs.heads, {k: refs.pairs[k] for k in keys}, cutoff)
        report["critic"]["references_accepted"] = acc["accepted"]
    for k in keys[:examples]:
        report["examples"].append(
            {
                "event": refs.heads[k[0]],
                "relation": k[1],
                "references": refs.pairs[k][:3],
                **{s: (out.get(k) or [""])[0] for s, out in systems.items()},
            }
        )
    return report


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (systems side by side) with its settings and a few examples."""
    systems = report["systems"]
    refs = report["references"]
    rows = ["name", "outputs", "empty_pairs", *METRICS]
    if report.get("critic"):
        rows += ["critic_accepted", "critic_mean_score"]
    lines = [
        f"Evaluated on {refs['pairs']} (event, relation) pairs ({refs['events']} events, "
        f"{refs['reference_tails']} reference tails) from `{refs['source']}`"
        + (
            f"; {refs['pairs_in_file'] - refs['pairs']} pairs not answered by every system were left out."
            if refs["pairs_in_file"] != refs["pairs"]
            else "."
        ),
        "",
    ]
    critic = report.get("critic")
    if critic:
        level = critic["recall_level"] if critic["recall_level"] is not None else "default"
        lines += [
            f"Critic `{critic['name']}` at recall level {level} (cutoff {critic['cutoff']:.3f})"
            + (
                f"; it accepts {critic['references_accepted']:.1%} of the human references."
                if critic.get("references_accepted") is not None
                else "."
            ),
            "",
        ]
    lines += ["| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    lines += [f"| {r} | " + " | ".join(_cell(s.get(r)) for s in systems.values()) + " |" for r in rows]
    if report.get("examples"):
        lines += [
            "",
            "| event | relation | references | " + " | ".join(systems) + " |",
            "|---|---|---|" + "---|" * len(systems),
        ]
        for ex in report["examples"]:
            cells = [ex["event"], ex["relation"], "; ".join(ex["references"]), *(ex.get(s, "") for s in systems)]
            lines.append("| " + " | ".join(clean_text(str(c)).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """`out`.json and `out`.md."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix(".json"), out.with_suffix(".md")
    js.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(render_markdown(report), encoding="utf-8")
    return js, md

"""The student's model card: README.md beside the weights, rendered from its `student.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None or value == "" else str(value)


def _table(rows: dict[str, Any]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in rows.items())]


def render_model_card(info: dict[str, Any]) -> str:
    data, metrics, training = info.get("data", {}), info.get("metrics", {}), info.get("training", {})
    lines = [
        f"# {info.get('name', 'student')}",
        "",
        "A COMET-style commonsense model distilled with `skd` (Symbolic Knowledge Distillation): a causal LM",
        f'fine-tuned from `{info.get("base", "?")}` to continue "<event>. <relation phrase>" with one inference,',
        "e.g. `PersonX buys a car. As a result, PersonX wants` → ` to drive it`. Loss was taken on the inference only.",
        f"Prompt format: `{info.get('format', '?')}`.",
        "",
        "## Data",
        "",
        *_table(data),
        "",
        "`none` tails were left out; events are split between training and validation, never shared.",
        "",
        "## Training",
        "",
        *_table(training),
        "",
        "## Metrics",
        "",
        *_table(metrics),
    ]
    evaluation = info.get("evaluation")
    if evaluation:
        lines += ["", "## Evaluation", "", evaluation.get("markdown", "").strip()]
    use = f'skd student generate "PersonX buys a car" --relation xWant --model {info.get("name", "DIR")}'
    lines += ["", "## Use", "", "```", use, "```", ""]
    return "\n".join(lines)


def write_model_card(folder: Path, info: dict[str, Any]) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(info), encoding="utf-8")
    return path

"""The critic's second stage: the encoder's logit stacked with the teacher's log-probability, where a triple has one.

A teacher that wrote a tail also says how likely it found it (`provenance["logprob"]`: the sum of its token
log-probabilities), and on judged teacher output that alone ranks acceptable tails about as well as the
encoder (README, the critic section). The stack is two small logistic regressions over standardised
features, fitted on the judged head's *out-of-fold* logits of the training rows (so they learn how far its
logit carries on events it did not see) and, for a critic with one, the logit of its weak-label head (trained
on events without judged labels, so out of sample on every judged row):

- `with_logprob`: the logit(s), the log-probability's sum, its mean per token, the log of the tail's token
  count, and the relation (one-hot): for triples that carry a log-probability of a teacher the labels came
  from;
- `without_logprob`: the logit(s) alone (with one logit, Platt scaling: the encoder's ranking), for every
  other triple (student generations, graph triples, another teacher's output), so every triple is still
  scored, on the same probability scale.

The tail's token count is counted with the critic's own tokenizer (plus one for the end of the answer):
the labels record the sum of the teacher's token log-probabilities, not how many tokens it took.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from skd.graph_schema.records import Triple
from skd.graph_schema.relations import get_relation

__all__ = [
    "KNN_COLUMNS",
    "KNN_FEATURE",
    "LOGPROB_FEATURE",
    "LinearStack",
    "Stack",
    "TailBank",
    "fit_stack",
    "item_logprob",
]

#: the name of the teacher-log-probability feature in `CriticConfig.features`
LOGPROB_FEATURE = "teacher_logprob"
#: fewer training rows with a log-probability than this: no `with_logprob` stage (too few to fit it)
MIN_LOGPROB_ROWS = 50
#: the logistic regressions' inverse regularisation strength (sklearn's C); 0.1-1 measured alike
STACK_C = 0.3
#: the logprob features beside the logit, in order
LOGPROB_PARTS = ("logprob_sum", "logprob_per_token", "log_tail_tokens")

#: the name of the nearest-human-tails feature in `CriticConfig.features` (`TailBank`)
KNN_FEATURE = "tail_knn"
#: its columns, read by the stack after the logits
KNN_COLUMNS = ("knn_tail", "knn_event")
#: knn_event looks at the tails of this many bank rows whose events are nearest the triple's
KNN_EVENTS = 10
#: a bank event this similar to the triple's (cosine) is taken to be the same event, and left out
SAME_EVENT = 0.999

CountTokens = Callable[[Sequence[str]], list[int]]


def item_logprob(item: Any) -> tuple[float | None, list[str]]:
    """The teacher log-probability a triple to score carries (None: none) and the teachers it names.

    A `Triple` carries it in `provenance["logprob"]` (as teacher runs write it); a labels row or a
    `LabeledTriple` in `logprob`; a plain `(head, relation, tail)` carries none."""
    if isinstance(item, Triple):
        value, teachers = item.provenance.get("logprob"), list(item.teachers)
    elif isinstance(item, dict):
        prov = item.get("provenance") or {}
        value = item.get("logprob", prov.get("logprob") if isinstance(prov, dict) else None)
        named = item.get("teachers", item.get("teacher"))
        teachers = [str(t) for t in named] if isinstance(named, list) else [str(named)] if named else []
    else:
        value = getattr(item, "logprob", None)
        teacher = getattr(item, "teacher", None)
        teachers = [teacher] if teacher else []
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, teachers
    return float(value), teachers


@dataclass
class LinearStack:
    """A logistic regression over standardised features: logit = ((x - mean) / scale) . coef + intercept."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.coef) + self.intercept, dtype=np.float64)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, names: Sequence[str], c: float = STACK_C) -> LinearStack:
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0  # a constant column (a relation absent from training) stays at zero
        model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
        return cls(
            features=list(names),
            mean=mean.tolist(),
            scale=scale.tolist(),
            coef=model.coef_[0].tolist(),
            intercept=float(model.intercept_[0]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LinearStack:
        return cls(
            features=list(obj["features"]),
            mean=[float(v) for v in obj["mean"]],
            scale=[float(v) for v in obj["scale"]],
            coef=[float(v) for v in obj["coef"]],
            intercept=float(obj["intercept"]),
        )


@dataclass
class TailBank:
    """Human-written tails (the positives of the weak labels: ATOMIC rows) embedded by the critic's encoder, for
    two features of a triple (event embedding u, tail embedding v, relation r), over the bank's rows of
    relation r whose event is not the triple's own (cosine < SAME_EVENT):

    - `knn_tail`: the highest cosine of v to a bank tail: does the tail look like what people write for r
      ("to go home" for xWant, an adjective for xAttr)?
    - `knn_event`: the highest cosine of v to the tails of the KNN_EVENTS bank rows whose events are nearest u:
      did people say something like it for a similar event?

    Events and tails are stored once each (unit length, float16), with each row's event, tail and relation."""

    relations: list[str]
    events: torch.Tensor
    tails: torch.Tensor
    row_event: torch.Tensor
    row_tail: torch.Tensor
    row_relation: torch.Tensor

    @classmethod
    def build(cls, u: torch.Tensor, v: torch.Tensor, relation: torch.Tensor, relations: Sequence[str]) -> TailBank:
        """From the pair inputs of the bank's rows (event and tail embeddings, relation indices into
        `relations`)."""
        events, row_event = torch.unique(_unit(u), dim=0, return_inverse=True)
        tails, row_tail = torch.unique(_unit(v), dim=0, return_inverse=True)
        return cls(list(relations), events.half(), tails.half(), row_event, row_tail, relation.long().clone())

    def __len__(self) -> int:
        return int(self.row_relation.shape[0])

    def columns(self, u: torch.Tensor, v: torch.Tensor, relation: torch.Tensor) -> np.ndarray:
        """(knn_tail, knn_event) of each triple (0 for a relation the bank has no rows of)."""
        u, v = _unit(u), _unit(v)
        out = np.zeros((len(relation), len(KNN_COLUMNS)))
        events, tails = self.events.float(), self.tails.float()
        for r in relation.unique().tolist():
            rows = (relation == r).nonzero().squeeze(1)
            bank = (self.row_relation == r).nonzero().squeeze(1)
            if len(bank) == 0:
                continue
            sim_event = u[rows] @ events[self.row_event[bank]].T
            sim_tail = v[rows] @ tails[self.row_tail[bank]].T
            same = sim_event >= SAME_EVENT
            sim_tail = sim_tail.masked_fill(same, -1.0)
            nearest = sim_event.masked_fill(same, -2.0).topk(min(KNN_EVENTS, len(bank)), dim=1).indices
            out[rows.numpy(), 0] = sim_tail.max(dim=1).values.numpy()
            out[rows.numpy(), 1] = sim_tail.gather(1, nearest).max(dim=1).values.numpy()
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "events": self.events.contiguous(),
            "tails": self.tails.contiguous(),
            "row_event": self.row_event.contiguous(),
            "row_tail": self.row_tail.contiguous(),
            "row_relation": self.row_relation.contiguous(),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], relations: Sequence[str]) -> TailBank:
        return cls(
            list(relations), **{k: tensors[k] for k in ("events", "tails", "row_event", "row_tail", "row_relation")}
        )


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


@dataclass
class Stack:
    """Both stages and what they need: the relations of the one-hot and the teachers whose log-probabilities
    the `with_logprob` stage learnt from (another teacher's are on another scale: its triples take the
    fallback)."""

    relations: list[str]
    without_logprob: LinearStack
    with_logprob: LinearStack | None = None
    teachers: list[str] = field(default_factory=list)
    #: the first stage's logits it reads: `logit` (the head trained on judged labels) and, for a critic with
    #: a second head trained on weak labels, `weak_logit`
    base: list[str] = field(default_factory=lambda: ["logit"])

    @property
    def weak_head(self) -> bool:
        return "weak_logit" in self.base

    @property
    def knn(self) -> bool:
        """Whether it reads the nearest-human-tails columns (`TailBank`)."""
        return all(c in self.base for c in KNN_COLUMNS)

    def _one_hot(self, relations: Sequence[str]) -> np.ndarray:
        index = {r: i for i, r in enumerate(self.relations)}
        out = np.zeros((len(relations), len(self.relations)))
        for row, rel in enumerate(relations):
            if rel in index:
                out[row, index[rel]] = 1.0
        return out

    def uses_logprob(self, logprob: float | None, teachers: Sequence[str]) -> bool:
        if self.with_logprob is None or logprob is None:
            return False
        # a triple that names no teacher is taken to come from the one the labels came from
        return not teachers or not self.teachers or any(t in self.teachers for t in teachers)

    def logits(self, base: Sequence[Sequence[float]], items: Sequence[Any], count_tokens: CountTokens) -> list[float]:
        """The stacked logits of scored items, given the first stage's logits for them (one column per head
        named in `base`, rows in the items' order)."""
        parts = [_parts(it) for it in items]
        logprobs = [item_logprob(it) for it in items]
        use = [self.uses_logprob(lp, teachers) for lp, teachers in logprobs]
        z = _columns(base, len(self.base), len(items))
        one_hot = self._one_hot([rel for _, rel, _ in parts])
        out = self.without_logprob.logits(z)
        rows = [i for i, u in enumerate(use) if u]
        if rows and self.with_logprob is not None:
            counts = count_tokens([parts[i][2] for i in rows])
            lp = logprob_columns([logprobs[i][0] or 0.0 for i in rows], counts)
            out[rows] = self.with_logprob.logits(np.hstack([z[rows], lp, one_hot[rows]]))
        return [float(v) for v in out]

    def covered(self, items: Sequence[Any]) -> list[bool]:
        """Whether each item is scored with its log-probability (True) or by the fallback."""
        return [self.uses_logprob(*item_logprob(it)) for it in items]

    def to_json(self) -> dict[str, Any]:
        return {
            "relations": self.relations,
            "teachers": self.teachers,
            "base": self.base,
            "weak_head": self.weak_head,
            "knn": self.knn,
            "with_logprob": self.with_logprob.to_json() if self.with_logprob else None,
            "without_logprob": self.without_logprob.to_json(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Stack:
        with_lp = obj.get("with_logprob")
        return cls(
            relations=list(obj["relations"]),
            teachers=list(obj.get("teachers") or []),
            base=list(obj.get("base") or ["logit"]),
            with_logprob=LinearStack.from_json(with_lp) if with_lp else None,
            without_logprob=LinearStack.from_json(obj["without_logprob"]),
        )


def _columns(base: Sequence[Sequence[float]], want: int, rows: int) -> np.ndarray:
    if len(base) < want:
        raise ValueError(f"the stack reads {want} logit column(s), got {len(base)}")
    z = np.asarray([list(c) for c in base[:want]], dtype=np.float64).reshape(want, rows)
    return z.T


def _parts(item: Any) -> tuple[str, str, str]:
    from skd.models.critic import split_item

    return split_item(item)


def logprob_columns(logprobs: Sequence[float], tail_tokens: Sequence[int]) -> np.ndarray:
    """The log-probability features: sum, mean per token and log token count (token count includes the end)."""
    lp = np.asarray(logprobs, dtype=np.float64)
    n = np.maximum(np.asarray(tail_tokens, dtype=np.float64), 1.0)
    return np.stack([lp, lp / n, np.log(n)], axis=1)


def fit_stack(
    oof_logits: Sequence[Sequence[float]],
    items: Sequence[Any],
    acceptable: Sequence[bool],
    count_tokens: CountTokens,
    use_logprob: bool = True,
    c: float = STACK_C,
    names: Sequence[str] | None = None,
) -> Stack:
    """Fit both stages on the first stage's logits of the training rows (out of fold: from heads that did not
    see their events; one column per head, `logit` then `weak_logit`, then any other columns the critic
    computes for every triple, named by `names`, e.g. KNN_COLUMNS) and their labels.

    `with_logprob` is fitted on the rows that carry a log-probability (when there are at least
    MIN_LOGPROB_ROWS of them, of both classes, and `use_logprob`); `without_logprob` (the logit alone) on
    every row."""
    parts = [_parts(it) for it in items]
    relations = sorted({get_relation(rel).name for _, rel, _ in parts})
    y = np.asarray([int(a) for a in acceptable])
    base = list(names) if names is not None else ["logit", "weak_logit"][: len(oof_logits)]
    z = _columns(oof_logits, len(base), len(items))
    stack = Stack(relations=relations, without_logprob=LinearStack.fit(z, y, base, c), base=base)
    one_hot = stack._one_hot([rel for _, rel, _ in parts])
    names = [*base, *(f"relation={r}" for r in relations)]
    logprobs = [item_logprob(it) for it in items]
    rows = [i for i, (lp, _) in enumerate(logprobs) if lp is not None]
    if use_logprob and len(rows) >= MIN_LOGPROB_ROWS and 0 < y[rows].sum() < len(rows):
        counts = count_tokens([parts[i][2] for i in rows])
        lp = logprob_columns([logprobs[i][0] or 0.0 for i in rows], counts)
        x = np.hstack([z[rows], lp, one_hot[rows]])
        stack.with_logprob = LinearStack.fit(x, y[rows], [*base, *LOGPROB_PARTS, *names[len(base) :]], c)
        stack.teachers = sorted({t for i in rows for t in logprobs[i][1]})
    return stack

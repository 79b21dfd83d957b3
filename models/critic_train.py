"""Training a critic on acceptability labels, calibrating its cutoffs on held-out events, and evaluating it.

Reads top to bottom: labels -> split by event -> train (a head on frozen embeddings of event and tail,
or of the whole sentence; or the whole encoder) -> for frozen modes, the stack (out-of-fold logits, a
weak-label head, the teacher's log-probability) -> score the validation split -> precision-recall curve
and cutoffs -> save.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from skd.core.errors import InputError, ModelError
from skd.graph_schema.records import Triple
from skd.models.calibration import (
    RECALL_LEVELS,
    at_cutoff,
    metrics,
    plot_pr_curve,
    pr_curve,
    recall_levels,
    thin_curve,
)
from skd.models.critic import (
    MODES,
    Critic,
    CriticConfig,
    CriticModel,
    ExtraColumns,
    PairCriticModel,
    PairInputs,
    ProgressFn,
    build_model,
    default_device,
    pair_logits,
    verbalise,
)
from skd.models.critic_labels import LabeledTriple, read_labels, split_by_event
from skd.models.critic_stack import KNN_COLUMNS, KNN_FEATURE, LOGPROB_FEATURE, MIN_LOGPROB_ROWS, TailBank, fit_stack
from skd.models.loading import encoder_depth, load_encoder, truncate_encoder

DEFAULT_MODE = "pair"
#: Scores of one triple differ by ~1e-8 between batchings (padding changes the float sums), so each stored
#: cutoff sits this far below the validation score it stands for, lest that triple fall under it when rescored.
SCORE_NOISE = 1e-6
DEFAULT_EPOCHS = {"pair": 60, "head": 60, "finetune": 3}
#: The frozen modes stop once this many epochs in a row have not beaten the best validation ROC-AUC.
PATIENCE = 10
#: Folds of events for the out-of-fold logits the stack learns from.
STACK_FOLDS = 5
#: What `train_critic` reads beside the encoder unless told: the teacher's log-probability (frozen modes).
DEFAULT_FEATURES: tuple[str, ...] = (LOGPROB_FEATURE,)
#: How weak labels join judged ones: `stack` (the default) trains a head of their own and banks their
#: human-written tails (`critic_stack.TailBank`), both read by the stack; `head` only the head (the default
#: before); `mix` puts them into one head with the judged labels; `pretrain` pre-trains the judged head on them
#: before it is fine-tuned on the judged labels (`pretrain+head`, `pretrain+stack`: and the parts above).
WEAK_LABELS = ("stack", "head", "mix", "pretrain", "pretrain+head", "pretrain+stack")
#: The learning rate of fine-tuning a weak-pre-trained head on judged labels, as a share of the head's own.
PRETRAIN_FINETUNE_LR = 0.3

Labels = str | Path | Iterable[dict[str, Any] | Triple] | Sequence[LabeledTriple]
#: file suffixes of human-written graphs (weak labels are made from them on the fly)
GRAPH_SUFFIXES = (".tsv", ".txt", ".csv")
WEAK_CALIBRATION = (
    "weak labels only: cutoffs and precision figures were measured on held-out ATOMIC rows against "
    "corruptions of them; they are estimates on corruptions, not on teacher output (train with judged "
    "labels of your teacher's output to calibrate on that)"
)


def gather_labels(
    sources: Sequence[str | Path], work_dir: Path, seed: int = 0, negatives_per_positive: float | None = None
) -> tuple[list[LabeledTriple], list[dict[str, Any]]]:
    """Labelled triples from several sources, and a record of each: labels JSONL (judged or human labels,
    on the paper's scale or boolean; rows from `skd critic bootstrap` count as weak) and human-written
    graphs as ATOMIC TSV, from which weak labels are made here (kept in `work_dir`). A bad row of a labels
    file is an InputError naming `file:line`."""
    from skd.models.critic_labels import NEGATIVES_PER_POSITIVE, bootstrap_labels

    examples: list[LabeledTriple] = []
    records: list[dict[str, Any]] = []
    for n, source in enumerate(sources):
        path = Path(source)
        if path.suffix.lower() in GRAPH_SUFFIXES:
            work_dir.mkdir(parents=True, exist_ok=True)
            weak_file = work_dir / f"weak-labels-{n}-{path.stem}.jsonl"
            bootstrap_labels(
                path, weak_file, seed=seed, negatives_per_positive=negatives_per_positive or NEGATIVES_PER_POSITIVE
            )
            got = read_labels(weak_file, strict=True)
        else:
            got = read_labels(path, strict=True)
        if not got:
            raise InputError(f"{path}: no usable labels (every row was skipped)")
        weak = sum(e.weak for e in got)
        kind = "weak" if weak == len(got) else "judged" if weak == 0 else "mixed"
        records.append(
            {"path": str(path), "kind": kind, "rows": len(got), "acceptable": sum(e.acceptable for e in got)}
        )
        examples.extend(got)
    return examples, records


def _examples(labels: Labels) -> list[LabeledTriple]:
    if isinstance(labels, list | tuple) and labels and all(isinstance(x, LabeledTriple) for x in labels):
        return list(labels)
    return read_labels(labels)  # type: ignore[arg-type]


def _check_classes(examples: Sequence[LabeledTriple], what: str) -> None:
    pos = sum(e.acceptable for e in examples)
    if pos == 0 or pos == len(examples):
        raise InputError(
            f"the {what} needs acceptable and unacceptable labels; it has {pos} acceptable "
            f"of {len(examples)} (add labels, or bootstrap weak ones with `skd critic bootstrap`)"
        )


FrozenInputs = torch.Tensor | PairInputs


def _frozen_inputs(
    critic: Critic,
    train: Sequence[LabeledTriple],
    val: Sequence[LabeledTriple],
    batch_size: int,
    progress: ProgressFn | None,
) -> tuple[FrozenInputs, FrozenInputs]:
    """What the head learns from, computed once with the frozen encoder: pair inputs, or sentence embeddings."""
    if critic.config.mode == "pair":
        # one call for both splits, so every distinct event and tail is encoded once
        x = critic.pair_inputs([e.item for e in [*train, *val]], batch_size, progress)
        return x.rows(slice(0, len(train))), x.rows(slice(len(train), None))
    return (
        critic.embed_texts([verbalise(e.item) for e in train], batch_size, progress),
        critic.embed_texts([verbalise(e.item) for e in val], batch_size, progress),
    )


def _head_logits(model: CriticModel | PairCriticModel, x: FrozenInputs, idx: torch.Tensor) -> torch.Tensor:
    """The head's logits for rows `idx` of frozen inputs (pair inputs are widened here, a batch at a time)."""
    if isinstance(x, PairInputs):
        assert isinstance(model, PairCriticModel)
        part = x.rows(idx)
        return model(part.u, part.v, part.relation)
    return cast(torch.Tensor, model.head(x[idx])).squeeze(-1)


def _val_logits(model: CriticModel | PairCriticModel, x: FrozenInputs) -> list[float]:
    if isinstance(x, PairInputs):
        assert isinstance(model, PairCriticModel)
        return pair_logits(model, x)  # widened a batch at a time
    return cast(list[float], cast(torch.Tensor, model.head(x)).squeeze(-1).tolist())


def _rows(x: FrozenInputs, idx: Sequence[int]) -> FrozenInputs:
    index = torch.tensor(list(idx), dtype=torch.long)
    return x.rows(index) if isinstance(x, PairInputs) else x[index]


def _fit_head(
    model: CriticModel | PairCriticModel,
    x_train: FrozenInputs,
    y_train: torch.Tensor,
    x_val: FrozenInputs,
    y_val: Sequence[int],
    epochs: int,
    lr: float,
    progress: ProgressFn | None,
    what: str = "training head",
    init: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Fit a head (on the CPU) on frozen inputs, keeping the epoch that ranks the validation rows best. With
    `init` (a pre-trained head's weights), training starts from it, and it is epoch 0 of that choice."""
    head = model.head.to("cpu")  # the frozen inputs are on the CPU; the head is small
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
    if init is not None:
        head.load_state_dict(init)
        head.eval()
        with torch.no_grad():
            best = (metrics(y_val, _val_logits(model, x_val))["roc_auc"], 0, {k: v.clone() for k, v in init.items()})
    step_size = 256
    epoch = 0
    for epoch in range(1, epochs + 1):
        head.train()
        perm = torch.randperm(len(x_train))
        for start in range(0, len(perm), step_size):
            idx = perm[start : start + step_size]
            loss = loss_fn(_head_logits(model, x_train, idx), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            auc = metrics(y_val, _val_logits(model, x_val))["roc_auc"]
        # keep the epoch that ranks held-out events best; the head over-fits fast on small label sets
        if auc > best[0]:
            best = (auc, epoch, {k: v.clone() for k, v in head.state_dict().items()})
        if progress:
            progress(what, epoch, epochs)
        if epoch - best[1] >= PATIENCE:
            break  # the head peaks early (epoch 7 on 1,500 ATOMIC lines); later epochs only over-fit
    head.load_state_dict(best[2])
    return {"best_epoch": best[1], "best_val_roc_auc": best[0], "epochs_run": epoch}


def _train_head(
    critic: Critic,
    train: Sequence[LabeledTriple],
    val: Sequence[LabeledTriple],
    epochs: int,
    lr: float,
    batch_size: int,
    progress: ProgressFn | None,
    out_of_fold: bool = False,
    seed: int = 0,
    init: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, Any], list[float] | None, FrozenInputs]:
    """Fast modes: the head's inputs once with the frozen encoder, then fit only the head. With
    `out_of_fold`, also the logits of every training row from heads that did not see its event (what the
    stack learns from). The training rows' inputs come back too. With `init`, every head starts from those
    weights (a head pre-trained on weak labels) and is fine-tuned at PRETRAIN_FINETUNE_LR of `lr`."""
    x_train, x_val = _frozen_inputs(critic, train, val, batch_size, progress)
    y_train = torch.tensor([float(e.acceptable) for e in train])
    y_val = [int(e.acceptable) for e in val]
    lr = lr * PRETRAIN_FINETUNE_LR if init is not None else lr
    fit = _fit_head(critic.model, x_train, y_train, x_val, y_val, epochs, lr, progress, init=init)
    critic.model.head.to(critic.device)
    oof = (
        _out_of_fold_logits(critic, x_train, train, y_train, epochs, lr, seed, progress, init) if out_of_fold else None
    )
    return fit, oof, x_train


def _fit_on_split(
    model: CriticModel | PairCriticModel,
    x: FrozenInputs,
    y: torch.Tensor,
    fit_idx: Sequence[int],
    stop_idx: Sequence[int],
    epochs: int,
    lr: float,
    progress: ProgressFn | None,
    what: str,
    init: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """`_fit_head` on the rows `fit_idx` of `x`/`y`, early-stopped on the rows `stop_idx`."""
    x_fit, x_stop, y_stop = _rows(x, fit_idx), _rows(x, stop_idx), [int(y[i]) for i in stop_idx]
    return _fit_head(model, x_fit, y[fit_idx], x_stop, y_stop, epochs, lr, progress, what=what, init=init)


def _out_of_fold_logits(
    critic: Critic,
    x: FrozenInputs,
    rows: Sequence[LabeledTriple],
    y: torch.Tensor,
    epochs: int,
    lr: float,
    seed: int,
    progress: ProgressFn | None,
    init: dict[str, torch.Tensor] | None = None,
) -> list[float] | None:
    """Each training row's logit from a fresh head fitted on the other STACK_FOLDS - 1 folds of events
    (early-stopped on a fifth of their events): how the head does on events it never saw. None with too
    few events for folds."""
    events = sorted({e.event for e in rows})
    folds = min(STACK_FOLDS, len(events))
    if folds < 2:
        return None
    random.Random(seed + 1).shuffle(events)
    fold_of = {ev: i % folds for i, ev in enumerate(events)}
    out = [0.0] * len(rows)
    for k in range(folds):
        inside = [i for i, e in enumerate(rows) if fold_of[e.event] != k]
        held = [i for i, e in enumerate(rows) if fold_of[e.event] == k]
        fit_rows, stop_rows = _split_indices([rows[i] for i in inside], seed + k)
        fit_idx, stop_idx = [inside[i] for i in fit_rows], [inside[i] for i in stop_rows]
        model = build_model(critic.model.encoder, critic.config)  # a fresh head over the same encoder
        _fit_on_split(model, x, y, fit_idx, stop_idx, epochs, lr, progress, f"stack: fold {k + 1} of {folds}", init)
        model.head.eval()
        with torch.no_grad():
            for i, v in zip(held, _val_logits(model, _rows(x, held)), strict=True):
                out[i] = v
    return out


def _train_weak_head(
    critic: Critic,
    rows: Sequence[LabeledTriple],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    progress: ProgressFn | None,
) -> tuple[PairCriticModel, dict[str, Any]]:
    """A second pair head over the critic's encoder, fitted on weak labels (early-stopped on a fifth of
    their events)."""
    model = build_model(critic.model.encoder, critic.config)
    assert isinstance(model, PairCriticModel)
    x = critic.pair_inputs([e.item for e in rows], batch_size, progress)
    y = torch.tensor([float(e.acceptable) for e in rows])
    fit_idx, stop_idx = _split_indices(rows, seed)
    fit = _fit_on_split(model, x, y, fit_idx, stop_idx, epochs, lr, progress, "training the weak head")
    model.to(critic.device).eval()
    return model, {"rows": len(rows), **fit}


def _split_indices(rows: Sequence[LabeledTriple], seed: int) -> tuple[list[int], list[int]]:
    """Indices of a split by event (a fifth held out to stop on), both sides with both classes; when that
    cannot be had, every row on both sides."""
    events = sorted({e.event for e in rows})
    random.Random(seed).shuffle(events)
    held = set(events[: max(1, round(0.2 * len(events)))])
    fit = [i for i, e in enumerate(rows) if e.event not in held]
    stop = [i for i, e in enumerate(rows) if e.event in held]
    both = lambda idx: 0 < sum(rows[i].acceptable for i in idx) < len(idx)  # noqa: E731
    if not (fit and stop and both(fit) and both(stop)):
        every = list(range(len(rows)))
        return every, every
    return fit, stop


def _train_finetune(
    critic: Critic,
    train: Sequence[LabeledTriple],
    val: Sequence[LabeledTriple],
    epochs: int,
    lr: float,
    batch_size: int,
    progress: ProgressFn | None,
) -> dict[str, Any]:
    """Full mode: fine-tune encoder and head together, linear warm-up then decay, best epoch kept."""
    model = critic.model
    texts = [verbalise(e.item) for e in train]
    ys = torch.tensor([float(e.acceptable) for e in train])
    y_val = [int(e.acceptable) for e in val]
    val_texts = [verbalise(e.item) for e in val]
    # the freshly initialised head learns faster than the pretrained encoder should move
    opt = torch.optim.AdamW(
        [{"params": model.encoder.parameters(), "lr": lr}, {"params": model.head.parameters(), "lr": lr * 20}],
        weight_decay=0.01,
    )
    steps = epochs * math.ceil(len(texts) / batch_size)
    warmup = max(1, steps // 16)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = nn.BCEWithLogitsLoss()
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(texts)).tolist()
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            enc = critic.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=critic.config.max_length,
                return_tensors="pt",
            ).to(critic.device)
            loss = loss_fn(model(enc["input_ids"], enc["attention_mask"]), ys[idx].to(critic.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if progress:
                progress("fine-tuning", step, steps)
        auc = metrics(y_val, critic.logits_of_texts(val_texts, batch_size * 2))["roc_auc"]
        if auc > best[0]:
            best = (auc, epoch, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    model.eval()
    return {"best_epoch": best[1], "best_val_roc_auc": best[0]}


def default_encoder_layers(mode: str, depth: int) -> int:
    """How many of an encoder's layers a critic keeps unless told: half of them, rounded up, in `pair` mode
    (MiniLM's 3rd layer ranked held-out ATOMIC events best of its 6, and halves the scoring time); all of
    them in `head` and `finetune`."""
    return (depth + 1) // 2 if mode == "pair" else depth


def _keep_layers(model: nn.Module, mode: str, asked: int | None) -> int | None:
    """Truncate the encoder to the layers asked for (None: the mode's default; 0: all) and return how many
    it keeps, or None when it keeps all of an encoder whose layers cannot be counted."""
    if asked == 0:
        return None
    try:
        depth = encoder_depth(model)
    except ModelError:
        if asked is None:
            return None  # an encoder of unknown shape keeps every layer unless told otherwise
        raise
    keep = default_encoder_layers(mode, depth) if asked is None else asked
    if keep > depth:
        raise InputError(f"encoder layers: the encoder has {depth} layers; cannot keep {keep}")
    if keep < depth:
        truncate_encoder(model, keep)
    return keep


def train_critic(
    labels_path_or_rows: Labels | Sequence[str | Path],
    out_dir: str | Path,
    encoder: str = "all-MiniLM-L6-v2",
    mode: str = DEFAULT_MODE,
    epochs: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    val_fraction: float = 0.2,
    batch_size: int | None = None,
    lr: float | None = None,
    max_length: int = 64,
    hidden: int = 256,
    encoder_layers: int | None = None,
    levels: Sequence[float] = RECALL_LEVELS,
    features: Sequence[str] | None = None,
    weak_labels: str = "stack",
    extra_columns: ExtraColumns | None = None,
) -> Critic:
    """Train a critic on labelled triples, calibrate it on held-out events and save it to `out_dir`.

    `encoder` is a built-in name, a Hugging Face id or a local folder. `mode` is `pair` (frozen encoder;
    event and tail encoded apart, the head compares them: minutes on a CPU), `head` (frozen encoder, one
    embedding of the whole sentence; weaker) or `finetune` (the paper's way, with RoBERTa-large; slow
    without a GPU). The validation split holds out `val_fraction` of the events. `encoder_layers` keeps
    the encoder's first N layers (0: all; None: `default_encoder_layers`); the saved critic is that
    shallower encoder.

    `features` (default DEFAULT_FEATURES; `[]` for the encoder alone): with `teacher_logprob`, a frozen-mode
    critic whose training labels carry the teacher's log-probability (at least MIN_LOGPROB_ROWS of them)
    also learns a stack (`critic_stack`): the head's out-of-fold logits of the training rows, STACK_FOLDS
    folds of events, with the log-probability and the relation in a logistic regression, and a fallback
    without the log-probability for triples that carry none. `finetune` critics have no stack.

    `weak_labels`: with judged and weak labels both, `stack` (default; pair mode) trains a second head on the
    weak labels of events that have no judged label, whose logit the stack reads beside the judged head's, and
    banks their acceptable rows (human-written tails) for the kNN columns (`critic_stack.TailBank`; also with
    `tail_knn` in `features`); `head` only the second head (the default before); `mix` trains one head on
    both (weak labels of the calibration events left out either way); `pretrain` pre-trains the judged head
    (and the stack's out-of-fold heads) on those weak labels and then fine-tunes it on the judged ones, and
    `pretrain+head` / `pretrain+stack` add the parts of `head` / `stack`.

    `extra_columns` (names, a function of the items giving one row of floats each): more stack columns
    computed outside the critic for every triple (frozen modes); the critic keeps the function, and must be
    given it again (`Critic.extra_columns`) once loaded.
    """
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    epochs = DEFAULT_EPOCHS[mode] if epochs is None else epochs
    if epochs < 1:
        raise InputError("epochs must be at least 1")
    if encoder_layers is not None and encoder_layers < 0:
        raise InputError(f"encoder layers must be 0 (all) or more, got {encoder_layers}")
    wanted = list(DEFAULT_FEATURES if features is None else features)
    unknown = sorted(set(wanted) - {LOGPROB_FEATURE, KNN_FEATURE})
    if unknown:
        raise InputError(f"unknown critic feature(s) {', '.join(unknown)}; known: {LOGPROB_FEATURE}, {KNN_FEATURE}")
    if weak_labels not in WEAK_LABELS:
        raise InputError(f"unknown way to use weak labels {weak_labels!r}; use one of {', '.join(WEAK_LABELS)}")
    frozen = mode != "finetune"
    batch_size = batch_size or (64 if frozen else 32)
    lr = lr or (1e-3 if frozen else 3e-5)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    started = time.perf_counter()

    sources: list[dict[str, Any]] = []
    given = labels_path_or_rows
    if isinstance(given, list | tuple) and given and all(isinstance(x, str | Path) for x in given):
        examples, sources = gather_labels(
            [Path(x) for x in given], Path(out_dir).with_name(Path(out_dir).name + ".labels"), seed
        )
    else:
        examples = _examples(given)  # type: ignore[arg-type]
    if not examples:
        raise InputError("no usable labels (every row was skipped or malformed)")
    _check_classes(examples, "label set")
    train, val, calibration = _split(examples, val_fraction, seed)
    _check_classes(val, "validation split")
    _check_classes(train, "training split")

    enc_model, tokenizer = load_encoder(encoder)
    config = CriticConfig(
        encoder=str(encoder),
        mode=mode,
        max_length=max_length,
        hidden=hidden,
        tail_by_relation=mode == "pair",
        encoder_layers=_keep_layers(enc_model, mode, encoder_layers),
    )
    critic = Critic(build_model(enc_model, config).to(default_device()), tokenizer, config)
    # a weak head: with judged and weak labels both, in pair mode, the weak labels train a head of their own
    # (on events with no judged label, so its logit is out of sample on every judged row) and the stack
    # reads its logit and/or the judged heads start from its weights (pretrain); otherwise ("mix") weak and
    # judged rows train one head together
    judged_events = {e.event for e in examples if not e.weak}
    weak_rows = [e for e in train if e.weak and e.event not in judged_events]
    separate = weak_labels != "mix" and mode == "pair" and bool(judged_events) and bool(weak_rows)
    weak_head = separate and weak_labels.endswith(("stack", "head"))  # its logit is read by the stack
    pretrain = separate and weak_labels.startswith("pretrain")  # the judged heads start from its weights
    if separate:
        train = [e for e in train if not e.weak]
    with_logprob = sum(e.logprob is not None for e in train)
    logprob = LOGPROB_FEATURE in wanted and with_logprob >= MIN_LOGPROB_ROWS
    # a bank of the weak labels' human-written tails: part of `stack`, or asked for as a feature
    knn = separate and (KNN_FEATURE in wanted or weak_labels.endswith("stack"))
    stacking = frozen and (logprob or weak_head or knn or extra_columns is not None)
    if frozen:
        critic.model.encoder.requires_grad_(False)
        weak: tuple[PairCriticModel, dict[str, Any]] | None = None
        init = None
        if pretrain:  # the weak head first: the judged heads start from its weights
            weak = _train_weak_head(critic, weak_rows, epochs, lr, batch_size, seed, progress)
            init = {k: v.detach().cpu().clone() for k, v in weak[0].head.state_dict().items()}
        fit, oof, x_train = _train_head(
            critic, train, val, epochs, lr, batch_size, progress, out_of_fold=stacking, seed=seed, init=init
        )
        if pretrain and weak is not None:
            fit["weak_pretrain"] = weak[1]
        if oof is not None:
            columns = [oof]
            if weak_head:
                weak = weak or _train_weak_head(critic, weak_rows, epochs, lr, batch_size, seed, progress)
                critic.weak_model, fit["weak_head"] = weak
                with torch.no_grad():
                    columns.append(_val_logits(critic.weak_model, x_train))
            names = ["logit", *(["weak_logit"] if weak_head else [])]
            if knn and isinstance(x_train, PairInputs):
                bank_rows = [e.item for e in weak_rows if e.acceptable]
                x_bank = critic.pair_inputs(bank_rows, batch_size, progress)
                critic.knn_bank = TailBank.build(x_bank.u, x_bank.v, x_bank.relation, config.relations)
                columns += critic.knn_bank.columns(x_train.u, x_train.v, x_train.relation).T.tolist()
                names += KNN_COLUMNS
                fit["knn_bank_rows"] = len(critic.knn_bank)
            if extra_columns is not None:
                critic.extra_columns = extra_columns
                rows = [[float(x) for x in row] for row in extra_columns[1]([e.scored for e in train])]
                columns += [[row[j] for row in rows] for j in range(len(extra_columns[0]))]
                names += list(extra_columns[0])
            stack = fit_stack(
                columns, [e.scored for e in train], [e.acceptable for e in train], critic.tail_tokens, logprob,
                names=names,
            )  # fmt: skip
            config.stack = stack.to_json()
            config.features = [
                *([LOGPROB_FEATURE] if stack.with_logprob else []),
                *(["weak_head"] if weak_head else []),
                *([KNN_FEATURE] if critic.knn_bank is not None else []),
            ]
            fit["stack_oof_roc_auc"] = metrics([int(e.acceptable) for e in train], oof)["roc_auc"]
    else:
        fit = _train_finetune(critic, train, val, epochs, lr, batch_size, progress)

    y_val = [int(e.acceptable) for e in val]
    scores = critic.score([e.scored for e in val], batch_size=batch_size * 2)
    if critic.stack is not None and critic.stack.with_logprob is not None:
        covered = sum(critic.stack.covered([e.scored for e in val]))
        fit["val_with_logprob"] = covered
        fit["roc_auc_without_logprob"] = metrics(y_val, critic.score([e.item for e in val], batch_size * 2))["roc_auc"]
        calibration += (
            f"; scored with the teacher's log-probability where a triple carries one ({covered} of {len(val)} "
            "calibration labels do)"
        )
    if pretrain:
        calibration += (
            f"; its head was pre-trained on {len(weak_rows):,} weak labels of events without judged labels, "
            "then fine-tuned on the judged ones"
        )
    if weak_head:
        calibration += (
            f"; the stack also reads a head trained on {len(weak_rows):,} weak labels of events without judged labels"
        )
    points = [(cutoff - SCORE_NOISE, precision, recall) for cutoff, precision, recall in pr_curve(y_val, scores)]
    config.levels = recall_levels(points, levels)
    _promise_by_relation(config.levels, val, scores)
    config.curve = thin_curve(points)
    config.sources = sources or [
        {"path": "rows", "kind": "weak" if all(e.weak for e in examples) else "judged", "rows": len(examples),
         "acceptable": sum(e.acceptable for e in examples)}
    ]  # fmt: skip
    config.calibration = calibration
    config.metrics = {
        **metrics(y_val, scores),
        "split": "validation, by event",
        "train_examples": len(train),
        "train_positives": sum(e.acceptable for e in train),
        "val_examples": len(val),
        "val_events": len({e.event for e in val}),
        "epochs": epochs,
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
        "train_seconds": round(time.perf_counter() - started, 2),
        **fit,
    }
    critic.save(out_dir)
    return critic


def _split(
    examples: Sequence[LabeledTriple], fraction: float, seed: int
) -> tuple[list[LabeledTriple], list[LabeledTriple], str]:
    """Training and calibration examples, split by event. Whenever there are judged (or human) labels, the
    calibration events are drawn from them alone, and weak labels of those events are left out of training;
    with weak labels alone, calibration is on them, and says so."""
    judged = [e for e in examples if not e.weak]
    if not judged:
        train, val = split_by_event(examples, fraction, seed)
        return train, val, WEAK_CALIBRATION
    rest, val = split_by_event(judged, fraction, seed)
    held = {e.event for e in val}
    train = [*rest, *(e for e in examples if e.weak and e.event not in held)]
    calibration = (
        f"judged labels of {len(held)} held-out events ({len(val)} labels, {sum(e.acceptable for e in val)} "
        "acceptable): the precision figures are measured on judged output, split by event"
    )
    return train, val, calibration


def _promise_by_relation(
    levels: dict[str, dict[str, Any]], val: Sequence[LabeledTriple], scores: Sequence[float]
) -> None:
    """Add to each level the precision it promises per relation (on the calibration split)."""
    for row in levels.values():
        by_rel: dict[str, list[int]] = {}
        for e, s in zip(val, scores, strict=True):
            if s >= row["cutoff"]:
                by_rel.setdefault(e.relation, []).append(int(e.acceptable))
        row["precision_by_relation"] = {r: round(sum(v) / len(v), 4) for r, v in sorted(by_rel.items())}


def evaluate_critic(
    critic: Critic,
    labels: Labels,
    plot: str | Path | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """ROC-AUC and average precision on labelled triples, and precision and recall at each stored cutoff.

    The stored cutoffs were chosen on the critic's validation split; here they meet new labels, so the
    recall at a level shows how well the calibration carries over. With `plot`, the curve goes to a PNG.
    """
    examples = _examples(labels)
    if not examples:
        raise InputError("no usable labels to evaluate on")
    _check_classes(examples, "evaluation set")
    y = [int(e.acceptable) for e in examples]
    scores = critic.score([e.scored for e in examples], batch_size=batch_size, progress=progress)
    per_level = {
        k: {**at_cutoff(y, scores, v["cutoff"]), "validation_precision": v["precision"]}
        for k, v in critic.config.levels.items()
    }
    report: dict[str, Any] = {
        "critic": str(critic.path or critic.config.encoder),
        **metrics(y, scores),
        "levels": per_level,
    }
    if critic.stack is not None:  # how many were scored with the teacher's log-probability, not the fallback
        report["scored_with_logprob"] = sum(critic.stack.covered([e.scored for e in examples]))
    if plot:
        cutoffs = {f"r{k}": v["cutoff"] for k, v in critic.config.levels.items()}
        report["plot"] = str(plot_pr_curve(y, scores, Path(plot), cutoffs))
    return report

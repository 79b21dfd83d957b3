"""Tiny real models for tests: a byte-level BPE tokenizer trained on fixture triples, a tiny GPT-2
(a causal LM for teacher and student) and a tiny BERT (an encoder for the critic), saved as normal
Hugging Face folders so the code under test loads them exactly as it loads real checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from skd.graph_schema.relations import RELATIONS

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "atomic2020" / "atomic2020-sample.tsv"
SPECIALS = ["<pad>", "<unk>", "<eos>", "<cls>", "<sep>", "<mask>"]


def fixture_lines(limit: int = 3000) -> list[str]:
    """Lines of the shared ATOMIC 2020 sample (fixture data), as text for tokenizer training."""
    out: list[str] = []
    with SAMPLE.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            head, rel, tail = line.rstrip("\n").split("\t")
            out.append(f"{head} {rel} {tail}")
    return out


def train_tokenizer(folder: Path, texts: Iterable[str] | None = None, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on fixture text and save it as a fast tokenizer folder."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = list(texts or fixture_lines())
    corpus += [r.phrase for r in RELATIONS] + [r.name for r in RELATIONS] + ["1. 2. 3. 4. 5.\n"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        bos_token="<eos>",
        cls_token="<cls>",
        sep_token="<sep>",
        mask_token="<mask>",
    )
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return fast


def tiny_gpt2(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 64-wide GPT-2 with the fixture tokenizer, saved to `folder`."""
    import torch

    torch.manual_seed(seed)
    tok = train_tokenizer(folder)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 64-wide BERT encoder with the fixture tokenizer, saved to `folder`."""
    import torch

    torch.manual_seed(seed)
    tok = train_tokenizer(folder)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder

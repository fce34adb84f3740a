"""A tiny random Llama with a character tokenizer, saved as a local Hugging Face directory.

It exercises the `--teacher PATH` route and every code path of the feature extractor in well under a
second; the real SmolLM2 teacher is tested in test_teacher.py.
"""

from functools import cache
from pathlib import Path

import torch
from tokenizers import Tokenizer, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHARS = ["<unk>", "<pad>", "\n"] + [chr(c) for c in range(32, 127)]
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def tiny_tokenizer(chat_template: str | None = None) -> PreTrainedTokenizerFast:
    vocab = {c: i for i, c in enumerate(CHARS)}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>")),
        unk_token="<unk>",
        pad_token="<pad>",
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


@cache
def tiny_teacher_dir(root: Path, seed: int = 0, layers: int = 2) -> Path:
    """Write (once per session and arguments) a tiny causal LM to `root`/tiny-SEED-LAYERS."""
    out = root / f"tiny-{seed}-{layers}"
    config = LlamaConfig(
        vocab_size=len(CHARS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=1,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)
    return out

"""The real SmolLM2 teacher: one GGUF load (about 40 s on 2 idle cores), then the weight cache."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

import export.teacher as teacher_module
from export.prompt import describe, render, template_for
from export.teacher import (
    CACHE_ENV,
    WEIGHTS_FILE,
    cache_root,
    choose_device,
    load_gguf,
    load_teacher,
    smollm2_gguf,
    teacher_identity,
    write_cache,
)
from lob.features import records
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import tiny_teacher_dir


@pytest.fixture(scope="module")
def gguf_then_cached(tmp_path_factory):
    """The GGUF-loaded model, and the teacher loaded back from a cache written in a fresh directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        model, tokenizer = load_gguf(smollm2_gguf(), torch.device("cpu"))
        cached_dir = cache_root() / f"smollm2-{teacher_identity()}"
        write_cache(model, tokenizer, cached_dir)

        def no_gguf(*args, **kwargs):
            raise AssertionError("load_teacher dequantised the GGUF although the cache existed")

        mp.setattr(teacher_module, "load_gguf", no_gguf)
        cached = load_teacher("smollm2", device="cpu")
    return model, tokenizer, cached, cached_dir


def test_cached_weights_give_bit_identical_hidden_states(gguf_then_cached):
    model, tokenizer, cached, _ = gguf_then_cached
    window = records(synthetic_dataset(seed=0, n=80))
    text = render(window, template_for(tokenizer))
    assert cached.tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        want = model.base_model(input_ids=ids, output_hidden_states=True).hidden_states
        got = cached.base(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(got) == cached.n_layers == 31 and got[0].shape[-1] == cached.hidden_size == 576
    for layer, (a, b) in enumerate(zip(want, got, strict=True)):
        assert torch.equal(a, b), f"layer {layer} differs after the cache round trip"


def test_cache_holds_the_embeddings_and_not_the_tied_head(gguf_then_cached):
    _, _, _, cached_dir = gguf_then_cached
    with safe_open(cached_dir / WEIGHTS_FILE, "pt") as f:
        keys = set(f.keys())
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys
    assert "quantization_config" not in json.loads((cached_dir / "config.json").read_text())


def test_the_instruction_prompt_is_short(gguf_then_cached):
    _, tokenizer, _, _ = gguf_then_cached
    body = describe(records(synthetic_dataset(seed=0, n=80)))
    assert len(tokenizer(body + template_for(tokenizer).tail, add_special_tokens=False)["input_ids"]) <= 100


def test_cache_location_and_device_choice(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_root() == tmp_path / "teacher"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root().parts[-3:] == (".cache", "cmm-quote", "teacher")
    assert choose_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert choose_device("cpu") == torch.device("cpu")


def test_a_local_directory_teacher_loads_as_is(tmp_path_factory):
    path = tiny_teacher_dir(tmp_path_factory.getbasetemp())
    tiny = load_teacher(str(path), device="cpu")
    assert tiny.n_layers == 3 and tiny.hidden_size == 32 and tiny.device.type == "cpu"
    assert tiny.identity == teacher_identity(str(path))
    assert np.isfinite(tiny.model.lm_head.weight.detach().numpy()).all()


def test_unknown_teachers_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither 'smollm2' nor a local model directory"):
        load_teacher(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_teacher(str(tmp_path))

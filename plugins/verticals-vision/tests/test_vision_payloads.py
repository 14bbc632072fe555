"""The image adapter's payload door reads the request only: a string is base64 data, never a path."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import verticals_vision
from PIL import Image
from verticals_vision.images import NOT_AN_IMAGE, read_image_source, read_images

from verticals.adapters import AdapterError
from verticals.testing import payload_reader_test

test_payload_readers_read_only_the_payload = payload_reader_test(verticals_vision)


def test_an_image_named_by_its_path_is_refused_as_if_it_did_not_exist(tmp_path: Path) -> None:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    for payload in (
        str(tmp_path / "one.png"),
        str(tmp_path / "two.png"),
        f"file://{tmp_path / 'one.png'}",
        {"image": str(tmp_path / "one.png")},
        [str(tmp_path / "one.png")],
    ):
        with pytest.raises(AdapterError) as refused:
            read_images(payload)
        assert str(refused.value) == NOT_AN_IMAGE, payload
    # the same file, sent as data, or named by the operator, is read
    data = (tmp_path / "one.png").read_bytes()
    [from_base64] = read_images(base64.b64encode(data).decode())
    [from_operator] = read_image_source(tmp_path / "one.png")
    np.testing.assert_array_equal(from_base64, from_operator)


def test_the_holdout_adapter_reads_operator_files_only(make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(verticals_vision, defaults=False)
    assert registry.adapter("vision/digits-holdout").read_payload is None

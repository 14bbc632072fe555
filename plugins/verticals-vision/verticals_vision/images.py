"""Turning any image a customer sends into the 8x8 grey digit the model was trained on.

scikit-learn's digits are 8x8 grids of ink counts from 0 (paper) to 16 (fully inked), the digit's
height filling the grid. Every input goes through the same steps so that it looks like that:

1. decode: PNG/JPEG/any Pillow format from bytes or base64 (a data: URL is fine), or take an array
   (nested lists or numpy) of shape HxW, HxWxC (C = 1, 3 or 4) or a flat 64;
2. grey: colour modes are converted to luminance (Pillow's ``L``), alpha composited on white;
3. polarity: when the border is brighter than the middle (dark ink on light paper) it is inverted;
4. frame: the ink's bounding box is centred in a square and area-averaged to 8x8;
5. scale: ink is stretched to 0..16.

Arrays may hold 0..255, 0..16 (the digits scale) or 0..1. Training and evaluation digits go through
the same steps, so the model never sees a framing that customers' images cannot produce (without
this, a PNG of a held-out digit scored 2 points below the digit itself: the data set does not
centre its digits). The steps are idempotent: a normalised digit comes back unchanged.

The ``vision/image`` adapter has two doors: ``read_images`` reads request payloads, where a string is
base64 image data and never a path, and ``read_image_source`` reads image files the operator names.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from verticals.adapters import NOT_DATA_HINT, AdapterError

SIDE = 8
MAX_INK = 16.0
MAX_PIXELS = 25_000_000  # a larger upload is refused before decoding: a decompression bomb guard
INK_THRESHOLD = 0.1  # of full ink; fainter pixels are paper noise when finding the bounding box
NOT_AN_IMAGE = (
    f"the image string is not base64 image data; {NOT_DATA_HINT}: the PNG/JPEG bytes base64-encoded "
    "(standard alphabet, with padding; a data:image/png;base64,... URL is fine) or an array of pixel values"
)


def read_image_source(source: Any, **_: Any) -> list[Any]:
    """``vision/image``'s operator door: an image file's path (str or Path), or any payload form."""
    if isinstance(source, str | Path):
        return [to_digit(image_file_bytes(Path(source)))]
    return read_images(source)


def read_images(source: Any) -> list[Any]:
    """``vision/image``'s payload door: one input (or a list of them) -> list of 8x8 float32 arrays.

    Reads only the payload: a string is base64 image data, never a file's path.
    """
    if isinstance(source, list) and source and not _is_numeric_array(source):
        return [to_digit(item) for item in source]
    if (isinstance(source, list | tuple) and source) or _is_ndarray(source):
        import numpy as np

        try:
            array = np.asarray(source, dtype=np.float32)
        except (TypeError, ValueError):
            raise AdapterError("the image array must hold only numbers, in rows of equal length") from None
        # NxHxW (last axis not a colour channel) or NxHxWxC: a batch of images
        if array.ndim == 4 or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            return [to_digit(image) for image in array]
    return [to_digit(source)]


def to_digit(item: Any) -> Any:
    """One image as a payload carries it -> an 8x8 float32 numpy array on the digits scale.

    ``item`` is bytes, base64 text, ``{"image": ...}`` or an array; never a path (see
    ``image_file_bytes`` for the operator's files).
    """
    import numpy as np

    if isinstance(item, dict):
        for key in ("image", "b64", "data"):
            if key in item:
                return to_digit(item[key])
        raise AdapterError(
            f"an image record needs an 'image' key (base64 PNG/JPEG or an array); got keys {sorted(item)}"
        )
    if isinstance(item, bytes | bytearray | memoryview):
        return _from_pil(_decode(bytes(item)))
    if isinstance(item, str):
        return _from_pil(_decode(_b64(item)))
    if isinstance(item, np.ndarray | list | tuple):
        return _from_array(item)
    raise AdapterError(
        f"cannot read an image from a {type(item).__name__}; send PNG/JPEG bytes, a base64 string or an "
        "array of pixel values"
    )


def image_file_bytes(path: Path) -> bytes:
    """An image file's bytes, for the operator's door and training folders (never a request's)."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise AdapterError(f"cannot read image file {path}: {error.strerror}; check the path") from None


def _b64(text: str) -> bytes:
    """base64 text or a ``data:`` URL -> bytes; the same refusal for every string that is neither."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AdapterError(NOT_AN_IMAGE) from None


def _decode(data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise AdapterError("the image is empty (0 bytes); send a PNG or JPEG file")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise AdapterError(
                f"the image is {image.width}x{image.height} pixels, over the {MAX_PIXELS:,} allowed; "
                "downscale it first (the model sees 8x8 anyway)"
            )
        image.load()
    except AdapterError:
        raise
    except UnidentifiedImageError:  # its message holds an object's address: nothing a customer can use
        raise AdapterError(
            "the payload is not a readable image (unknown format); send a PNG or JPEG file"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise AdapterError(
            f"the payload is not a readable image ({type(error).__name__}: {error}); send a PNG or JPEG file"
        ) from None
    return image


def _from_pil(image: Any) -> Any:
    import numpy as np
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return _normalise(grey)


def _from_array(value: Any) -> Any:
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise AdapterError("the image array must hold only numbers, in rows of equal length") from None
    if array.ndim == 1 and array.size == SIDE * SIDE:
        array = array.reshape(SIDE, SIDE)
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = _to_grey(array)
    if array.ndim != 2 or min(array.shape) < 1:
        raise AdapterError(
            f"an image array must be HxW, HxWxC with C in 1, 3, 4, or a flat list of 64; got shape "
            f"{list(array.shape)}"
        )
    if not np.isfinite(array).all() or array.min() < 0:
        raise AdapterError("image pixel values must be finite and not negative (0..255, 0..1 or 0..16)")
    peak = float(array.max())
    scale = 255.0 if peak > MAX_INK else MAX_INK if peak > 1.0 else 1.0
    if peak > 255.0:
        raise AdapterError(f"image pixel values go up to {peak:g}; use 0..255 (8-bit), 0..1 or 0..16")
    return _normalise(array / scale)


def _to_grey(array: Any) -> Any:
    channels = array.shape[2]
    if channels == 1:
        return array[:, :, 0]
    rgb = array[:, :, :3]
    grey = rgb @ [0.299, 0.587, 0.114]  # ITU-R 601 luma, as Pillow's "L" conversion
    if channels == 4:
        alpha = array[:, :, 3] / (255.0 if array.max() > 1.0 else 1.0)
        white = 255.0 if array.max() > 1.0 else 1.0
        grey = grey * alpha + white * (1 - alpha)
    return grey


def _normalise(grey: Any) -> Any:
    """``grey`` is HxW in 0..1 (1 = white); returns 8x8 ink on the 0..16 scale."""
    import numpy as np

    border = np.concatenate([grey[0, :], grey[-1, :], grey[:, 0], grey[:, -1]])
    ink = _frame(1.0 - grey if border.mean() > grey.mean() else grey)
    peak = float(ink.max())
    if peak <= 1e-6:
        raise AdapterError("the image is blank (no ink found); send an image with a digit on it")
    return (ink / peak * MAX_INK).astype(np.float32)


def _frame(ink: Any) -> Any:
    import numpy as np
    from PIL import Image

    rows = np.flatnonzero((ink >= INK_THRESHOLD * ink.max()).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * ink.max()).any(axis=0))
    if len(rows) and len(cols):
        ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = max(ink.shape)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    image = Image.fromarray(square, mode="F").resize((SIDE, SIDE), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32)


def _is_ndarray(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def _is_numeric_array(value: list[Any]) -> bool:
    """A list of numbers or of number lists is one image; a list of anything else is many."""
    first = value[0]
    while isinstance(first, list | tuple) and first:
        first = first[0]
    return isinstance(first, int | float) and not isinstance(first, bool)

"""Open Inference Protocol v2 tensors: JSON data and the binary tensor extension (Triton's).

A request may carry tensor data in JSON (``data``) or, as ``tritonclient`` sends by default, as raw
bytes after the JSON header (``Inference-Header-Content-Length`` gives the header's size; each input's
``parameters.binary_data_size`` its share). BYTES elements are 4-byte little-endian lengths followed
by the bytes. Responses use the same encoding when the caller asks for binary outputs.

Numbers must be finite: Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (which overflows to
infinity), and binary FP tensors can hold them too, but no model can score them and no JSON response
can carry them, so an input holding one is refused with a 400 that names the tensor.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

from verticals.models import TensorSpec
from verticals.serving.errors import APIError

NUMERIC = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}


def bad(message: str, param: str | None = None) -> APIError:
    """A 400 APIError with code ``invalid_tensor`` and the given message and parameter."""
    return APIError(400, message, code="invalid_tensor", param=param)


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """Split a v2 request body into its JSON header (a dict) and the binary tensor bytes after it;
    ``header_length`` is the ``Inference-Header-Content-Length`` header (None: the whole body is JSON).

    Raises APIError 400: ``invalid_tensor`` for a header length that is not a number or does not fit the body,
    or a JSON value that is not an object; ``invalid_json`` for a header that is not JSON.
    """
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise bad(f"Inference-Header-Content-Length {header_length!r} is not a number") from None
        if not 0 <= size <= len(body):
            raise bad(f"Inference-Header-Content-Length {size} does not fit the {len(body)}-byte body")
        head, rest = body[:size], body[size:]
    else:
        head, rest = body, b""
    try:
        request = json.loads(head)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise APIError(
            400,
            f"the body is not valid JSON ({error}); send a v2 inference request object",
            code="invalid_json",
        ) from None
    if not isinstance(request, dict):
        raise bad("the body must be a JSON object with an `inputs` list")
    return request, rest


def decode_input(tensor: Any, binary: bytes, offset: int) -> tuple[list[Any], list[int], str, int]:
    """One input's elements (flat, row-major), its shape, datatype, and the binary bytes it used."""
    if not isinstance(tensor, dict):
        raise bad("each input must be an object with name, shape, datatype and data", "inputs")
    name = tensor.get("name", "?")
    datatype = tensor.get("datatype")
    shape = tensor.get("shape")
    if datatype != "BYTES" and datatype not in NUMERIC:
        raise bad(
            f"input {name!r} has datatype {datatype!r}; use BYTES or one of {', '.join(NUMERIC)}", "inputs"
        )
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise bad(f"input {name!r} needs `shape`, a list of non-negative integers", "inputs")
    count = 1
    for dim in shape:
        count *= dim
    if count > 10_000_000:
        raise bad(f"input {name!r} has {count} elements; send at most 10,000,000 per request", "inputs")
    params = tensor.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise bad(f"input {name!r} says binary_data_size {size!r}, more than the body carries", "inputs")
        raw = binary[offset : offset + size]
        elements = _unpack_bytes(raw, name) if datatype == "BYTES" else _unpack_numeric(raw, datatype, name)
        if datatype.startswith("FP"):  # IEEE floats carry NaN and infinities in binary too
            _check_finite(elements, name)
        used = size
    else:
        if "data" not in tensor:
            raise bad(f"input {name!r} has no `data`", "inputs")
        elements = _flatten(tensor["data"])
        used = 0
        if datatype != "BYTES":
            elements = [_number(value, datatype, name) for value in elements]
    if len(elements) != count:
        raise bad(f"input {name!r} has {len(elements)} elements but shape {shape} needs {count}", "inputs")
    return elements, shape, datatype, used


def request_items(elements: list[Any], shape: list[int], datatype: str, name: str) -> list[Any]:
    """The request items of one decoded input: one per row of its first dimension.

    A numeric row is a list (shape [N, 4]: N lists of 4); shape [N] gives N numbers. A BYTES element
    is JSON-decoded when it parses (``bytes_item``), and a BYTES row of one element is that element:
    shape [N, 1], what tritonclient sends for a column of records, gives N records, as [N] does.

    Raises ``APIError`` 400 naming the input when a BYTES element holds a non-finite number.
    """
    if datatype != "BYTES":
        return rows(elements, shape)
    decoded = [bytes_item(value, name) for value in elements]
    if all(dim == 1 for dim in shape[1:]):
        return decoded
    return rows(decoded, shape)


def item_names(shape: list[int], datatype: str, name: str) -> list[str]:
    """How an error names each request item of input ``name`` (one per row of its first dimension, as
    ``request_items`` makes them): ``input 'x' element 3`` for shape [N], ``input 'x' element [3, 0]``
    for a BYTES column of shape [N, 1] (what tritonclient sends), ``input 'x' row 3`` for a wider row.

    An adapter sees one item at a time, so its own count ("row 0") would say where in that item, not
    where in the request; the customer needs the tensor element.
    """
    count = shape[0] if shape else 1
    if len(shape) <= 1:
        return [f"input {name!r} element {i}" for i in range(count)]
    if datatype == "BYTES" and all(dim == 1 for dim in shape[1:]):
        zeros = ", 0" * (len(shape) - 1)
        return [f"input {name!r} element [{i}{zeros}]" for i in range(count)]
    return [f"input {name!r} row {i}" for i in range(count)]


def rows(elements: list[Any], shape: list[int]) -> list[Any]:
    """One item per row of the first dimension: shape [N, 4] gives N lists of 4, shape [N] N values."""
    if len(shape) <= 1:
        return list(elements)
    n = shape[0]
    if n == 0:
        return []
    width = len(elements) // n
    return [_nest(elements[i * width : (i + 1) * width], shape[1:]) for i in range(n)]


def bytes_item(value: Any, name: str = "?") -> Any:
    """BYTES elements that parse as JSON become that value (a record, a FHIR bundle), else text or bytes.

    The text ``NaN`` (or ``Infinity``) alone stays text; a JSON value holding a non-finite number, or
    a non-finite number sent as the element itself, is refused with a 400 naming input ``name``.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_refuse_constant, parse_float=_finite_float)
        except json.JSONDecodeError:
            return value
        except _NonFinite as error:
            if value.strip() in _CONSTANTS:
                return value
            raise _not_finite(name, error.text) from None
        return value
    _check_finite([value], name)
    return value


def encode_outputs(declared: Sequence[TensorSpec], outputs: list[Any]) -> list[dict[str, Any]]:
    """Response tensors (name, datatype, shape, data) for a list of per-item outputs.

    When every item is a record holding each declared output (``{"label": 3, "probabilities":
    [...]}``), each declared output becomes its own tensor, as a Triton or KServe client expects
    (``result.as_numpy("probabilities")``). Otherwise the items go out as one tensor under the
    first declared name (``output`` when none is declared), records as JSON strings.
    """
    columns: list[tuple[str, list[Any], str | None]]
    if declared and outputs and all(_holds(o, declared) for o in outputs):
        columns = [(t.name, [o[t.name] for o in outputs], t.datatype) for t in declared]
    else:
        first = declared[0] if declared else None
        columns = [(first.name if first else "output", outputs, first.datatype if first else None)]
    tensors = []
    for name, values, datatype in columns:
        out_type, shape, data = encode_output(name, values, datatype)
        tensors.append({"name": name, "datatype": out_type, "shape": shape, "data": data})
    return tensors


def _holds(output: Any, declared: Sequence[TensorSpec]) -> bool:
    return isinstance(output, dict) and all(t.name in output for t in declared)


def encode_output(name: str, outputs: list[Any], declared: str | None) -> tuple[str, list[int], list[Any]]:
    """Datatype, shape and flat data for a list of per-item outputs."""
    if declared == "BOOL" and outputs and all(isinstance(v, bool) for v in outputs):
        return "BOOL", [len(outputs)], list(outputs)
    if outputs and all(_is_number(v) for v in outputs):
        datatype = declared if declared in NUMERIC else "FP32"
        return datatype, [len(outputs)], [float(v) if datatype.startswith("FP") else v for v in outputs]
    if outputs and all(isinstance(v, list) and v and all(_is_number(x) for x in v) for v in outputs):
        width = len(outputs[0])
        if all(len(v) == width for v in outputs):
            datatype = declared if declared in NUMERIC else "FP32"
            return datatype, [len(outputs), width], [x for v in outputs for x in v]
    data = [v if isinstance(v, str) else json.dumps(v, default=str) for v in outputs]
    return "BYTES", [len(outputs)], data


def pack(datatype: str, data: list[Any]) -> bytes:
    """``data`` (flat, row-major) as the binary tensor extension's bytes: little-endian numbers of
    ``datatype``, or for BYTES each element as a 4-byte little-endian length and its bytes (str as UTF-8).
    struct.error when a value does not fit the datatype.
    """
    if datatype == "BYTES":
        parts = []
        for value in data:
            raw = value.encode() if isinstance(value, str) else bytes(value)
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    return struct.pack(f"<{len(data)}{NUMERIC[datatype]}", *data)


def _unpack_numeric(raw: bytes, datatype: str, name: str) -> list[Any]:
    code = NUMERIC[datatype]
    width = struct.calcsize(code)
    if len(raw) % width:
        raise bad(f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype} values", "inputs")
    return list(struct.unpack(f"<{len(raw) // width}{code}", raw))


def _unpack_bytes(raw: bytes, name: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise bad(f"input {name!r}: BYTES data ends inside a length prefix", "inputs")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise bad(f"input {name!r}: a BYTES element says {length} bytes but fewer remain", "inputs")
        out.append(raw[pos : pos + length])
        pos += length
    return out


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for value in data:
        out.extend(_flatten(value))
    return out


def _nest(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any, datatype: str, name: str) -> Any:
    if datatype == "BOOL":
        if isinstance(value, bool):
            return value
        raise bad(f"input {name!r} is BOOL but holds {value!r}", "inputs")
    if not _is_number(value):
        raise bad(f"input {name!r} is {datatype} but holds {value!r}; send numbers", "inputs")
    if isinstance(value, float) and not math.isfinite(value):
        raise _not_finite(name, value)
    return value


_CONSTANTS = ("NaN", "Infinity", "-Infinity")


class _NonFinite(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _refuse_constant(text: str) -> Any:
    raise _NonFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity
        raise _NonFinite(text)
    return value


def _not_finite(name: str, value: object) -> APIError:
    if isinstance(value, float):  # named as JSON would spell it, not as Python's repr
        value = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return bad(
        f"input {name!r} holds {value}, which is not a finite number; send finite numbers (NaN and "
        "Infinity are not JSON numbers and no model can score them)",
        "inputs",
    )


def _check_finite(values: list[Any], name: str) -> None:
    """Raise a 400 naming input ``name`` when any value, or any number nested in one, is not finite."""
    for value in values:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _not_finite(name, value)
        elif isinstance(value, list | tuple):
            _check_finite(list(value), name)
        elif isinstance(value, dict):
            _check_finite(list(value.values()), name)

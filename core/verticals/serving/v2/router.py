"""Open Inference Protocol v2 (KServe / Triton) for every model.

A model name with a slash goes into the path as is, as path segments
(``/v2/models/tabular/linear/infer``), or URL-encoded (``/v2/models/tabular%2Flinear/infer``); both
reach the same model. ``.../versions/{v}/...`` is accepted too (there is one version per model).

Inference takes the first input tensor: a numeric tensor gives one item per row of its first
dimension; BYTES elements are JSON-decoded when they parse as JSON, else passed as text (or bytes),
and a BYTES row of one element is that element (shape [N, 1] gives N records, as [N] does).
Each item goes through the model's input adapter, then the dynamic batcher. Outputs that are numbers
or equal-length lists of numbers come back as a numeric tensor, anything else as BYTES JSON strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from verticals import __version__
from verticals.models import ModelSpec
from verticals.serving.admission import authenticated, context_of, gateway_of, open_call
from verticals.serving.calls import Finished
from verticals.serving.errors import APIError
from verticals.serving.reload import unknown_model_hint
from verticals.serving.v2.codec import (
    bad,
    decode_input,
    encode_outputs,
    item_names,
    pack,
    request_items,
    split_body,
)

router = APIRouter(tags=["Open Inference Protocol v2"])

_INFER_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "shape", "datatype", "data"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "shape": {"type": "array", "items": {"type": "integer"}},
                                    "datatype": {"type": "string"},
                                    "data": {"type": "array"},
                                    "parameters": {"type": "object"},
                                },
                            },
                        },
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    },
}


def _name(path: str) -> str:
    """``a/b`` or ``a/b/versions/1`` -> ``a/b``."""
    head, sep, _ = path.partition("/versions/")
    return head if sep else path


@router.get("/v2/health/live")
async def live() -> dict[str, bool]:
    """``GET /v2/health/live``: ``{"live": true}`` while the process answers. No key needed."""
    return {"live": True}


@router.get("/v2/health/ready")
async def ready(request: Request) -> JSONResponse:
    """``GET /v2/health/ready``: ``{"ready": bool}``, 200 when every backend is ready and the gateway is not
    draining, else 503. No key needed.
    """
    gw = gateway_of(request)
    ok = not gw.draining and all(b.ready for b in gw.backends.values())
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.get("/v2")
async def server_metadata() -> dict[str, Any]:
    """``GET /v2``: the server's name, version and protocol extensions (``binary_tensor_data``). No key
    needed.
    """
    return {"name": "verticals", "version": __version__, "extensions": ["binary_tensor_data"]}


@router.get("/v2/models/{name:path}/ready", dependencies=[Depends(authenticated)])
async def model_ready(request: Request, name: str) -> JSONResponse:
    """``GET /v2/models/{name}/ready``: ``{name, ready}``, 200 when ready, 503 when not (or not served), 404
    for an unknown model. Not metered. Needs a customer key (401 without a valid one, 403 for a suspended
    customer).
    """
    gw = gateway_of(request)
    name = _name(name)
    backend = gw.backends.get(name)
    context_of(request).recorded = True  # a readiness probe is not a model call
    if name not in gw.registry.models:
        raise APIError(
            404,
            f"the model {name!r} does not exist; see GET /v1/models{unknown_model_hint(gw, name)}",
            code="model_not_found",
        )
    ok = backend is not None and backend.ready
    return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)


@router.post(
    "/v2/models/{name:path}/infer", openapi_extra=_INFER_SCHEMA, dependencies=[Depends(authenticated)]
)
async def model_infer(request: Request, name: str) -> Response:
    """``POST /v2/models/{name}/infer``: Open Inference Protocol v2 inference, JSON or binary tensors (see
    ``verticals.serving.v2.codec``); each row of the first input is one item.

    Answers ``{model_name, model_version, outputs[, id]}`` with the outputs asked for (binary when asked), and
    the request's price in the ``x-verticals-cost-usd`` header (USD). 400 for a malformed request or a model
    served by the transformers fallback; 404 unknown model; 402 over budget; 429 over a rate limit; 503 while
    the model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    call, backend = open_call(request, _name(name))
    spec = backend.spec
    body, binary = split_body(await request.body(), request.headers.get("inference-header-content-length"))
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad("the request needs `inputs`: a list with at least one tensor", "inputs")
    requested = _requested_outputs(body, [t.name for t in spec.outputs] or ["output"])
    elements, shape, datatype, _ = decode_input(inputs[0], binary, 0)
    tensor_name = str(inputs[0].get("name", "?"))
    items = request_items(elements, shape, datatype, tensor_name)
    if not items:
        raise bad("the first input has no rows", "inputs")
    parameters = body.get("parameters")
    result = await backend.infer(
        call,
        items,
        parameters if isinstance(parameters, dict) else {},
        where=item_names(shape, datatype, tensor_name),
    )
    tensors = [
        t for t in encode_outputs(spec.outputs, result.outputs) if requested is None or t["name"] in requested
    ]

    def render(cost: Decimal, headers: dict[str, str]) -> Response:
        return _inference_response(spec, backend.version, body, tensors, headers)

    answer = Finished(
        result.units_in,
        render,
        units_out=result.units_out,
        compute_seconds=result.compute_seconds,
        queue_seconds=result.queue_seconds,
    )
    return await answer.respond(call)


def _inference_response(
    spec: ModelSpec,
    version: str,
    body: dict[str, Any],
    tensors: list[dict[str, Any]],
    headers: dict[str, str],
) -> Response:
    """``{model_name, model_version, outputs[, id]}``, JSON, or with the outputs asked for in binary."""
    response: dict[str, Any] = {"model_name": spec.name, "model_version": version, "outputs": tensors}
    if isinstance(body.get("id"), str):
        response["id"] = body["id"]
    blobs = []
    for tensor in tensors:
        if _wants_binary(body, tensor["name"]):
            blob = pack(tensor["datatype"], tensor.pop("data"))
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
    if not blobs:
        return JSONResponse(response, headers=headers)
    head = bytes(JSONResponse(response).body)
    headers["Inference-Header-Content-Length"] = str(len(head))
    return Response(head + b"".join(blobs), media_type="application/octet-stream", headers=headers)


@router.get("/v2/models/{name:path}", dependencies=[Depends(authenticated)])
async def model_metadata(request: Request, name: str) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's name, version, platform (``verticals-<backend>``) and
    input/output tensor specs (a BYTES ``[-1]`` tensor when the spec declares none); 404 for an unknown
    model. Not metered. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    gw = gateway_of(request)
    context_of(request).recorded = True  # metadata is not a model call
    name = _name(name)
    registered = gw.registry.models.get(name)
    if registered is None:
        raise APIError(
            404,
            f"the model {name!r} does not exist; see GET /v1/models{unknown_model_hint(gw, name)}",
            code="model_not_found",
        )
    spec = registered.item
    return {
        "name": spec.name,
        "versions": [spec.version],
        "platform": f"verticals-{spec.backend}",
        "inputs": [t.model_dump() for t in spec.inputs]
        or [{"name": "input", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [t.model_dump() for t in spec.outputs]
        or [{"name": "output", "datatype": "BYTES", "shape": [-1]}],
    }


def _requested_outputs(body: dict[str, Any], known: list[str]) -> set[str] | None:
    """The output names the request asks for (``outputs``), checked before any model work; None: all."""
    wanted = body.get("outputs")
    if wanted is None:
        return None
    names = {o.get("name") for o in wanted if isinstance(o, dict)} if isinstance(wanted, list) else set()
    if not names or None in names:
        raise bad('`outputs` must be a list of {"name": ...} objects, or left out for all', "outputs")
    unknown = sorted(str(n) for n in names - set(known))
    if unknown:
        raise bad(
            f"the model has no output {', '.join(map(repr, unknown))}; its outputs: {', '.join(known)}",
            "outputs",
        )
    return {str(n) for n in names}


def _wants_binary(body: dict[str, Any], name: str) -> bool:
    params = body.get("parameters")
    if isinstance(params, dict) and params.get("binary_data_output") is True:
        return True
    for out in body.get("outputs") or []:
        if isinstance(out, dict) and out.get("name") == name:
            p = out.get("parameters")
            return isinstance(p, dict) and p.get("binary_data") is True
    return False

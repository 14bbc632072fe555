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

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from verticals import __version__
from verticals.serving.backends import Unavailable
from verticals.serving.backends.torch_backend import TorchBackend
from verticals.serving.backends.vllm_proxy import UpstreamError, VLLMBackend
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway, unavailable
from verticals.serving.inference import adapt, infer_many, to_jsonable
from verticals.serving.routes_openai import authenticated
from verticals.serving.v2_codec import bad, decode_input, encode_outputs, pack, request_items, split_body

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


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


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
    gw = _gateway(request)
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
    gw = _gateway(request)
    name = _name(name)
    backend = gw.backends.get(name)
    gw.context(request).recorded = True  # a readiness probe is not a model call
    if name not in gw.registry.models:
        raise APIError(404, f"the model {name!r} does not exist; see GET /v1/models", code="model_not_found")
    ok = backend is not None and backend.ready
    return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)


@router.post(
    "/v2/models/{name:path}/infer", openapi_extra=_INFER_SCHEMA, dependencies=[Depends(authenticated)]
)
async def model_infer(request: Request, name: str) -> Response:
    """``POST /v2/models/{name}/infer``: Open Inference Protocol v2 inference, JSON or binary tensors (see
    ``v2_codec``); each row of the first input is one item.

    Answers ``{model_name, model_version, outputs[, id]}`` with the outputs asked for (binary when asked), and
    the request's price in the ``x-verticals-cost-usd`` header (USD). 400 for a malformed request or a model
    served by the transformers fallback; 404 unknown model; 402 over budget; 429 over a rate limit; 503 while
    the model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    gw = _gateway(request)
    spec, backend = gw.resolve(request, _name(name))
    ctx = gw.context(request)
    body, binary = split_body(await request.body(), request.headers.get("inference-header-content-length"))
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad("the request needs `inputs`: a list with at least one tensor", "inputs")
    requested = _requested_outputs(body, [t.name for t in spec.outputs] or ["output"])
    elements, shape, datatype, _ = decode_input(inputs[0], binary, 0)
    raw_items = request_items(elements, shape, datatype, str(inputs[0].get("name", "?")))
    if not raw_items:
        raise bad("the first input has no rows", "inputs")
    raw_params = body.get("parameters")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if isinstance(backend, VLLMBackend):
        outputs, units_in, units_out, seconds = await _generate(gw, request, backend, raw_items, params)
    elif not isinstance(backend, TorchBackend):
        raise APIError(
            400,
            f"{spec.name!r} runs on the transformers fallback here (vLLM is not installed), which serves "
            "/v1/chat/completions and /v1/completions only",
            code="not_served_over_v2",
        )
    else:
        items: list[Any] = []
        for raw in raw_items:
            items.extend(await adapt(gw.registry, spec, raw, param="inputs"))
        units_in = sum(backend.units(item) for item in items)
        gw.admit(request, units_in)
        results = await infer_many(backend, items, param="inputs")
        outputs = [to_jsonable(r.output) for r in results]
        units_out, seconds = 0.0, sum(r.compute_seconds for r in results)
        ctx.queue_ms = max(r.queue_seconds for r in results) * 1000
    cost = gw.meter.finish(ctx, 200, units_in=units_in, units_out=units_out, compute_seconds=seconds)
    tensors = [
        t for t in encode_outputs(spec.outputs, outputs) if requested is None or t["name"] in requested
    ]
    response: dict[str, Any] = {"model_name": spec.name, "model_version": backend.version, "outputs": tensors}
    if isinstance(body.get("id"), str):
        response["id"] = body["id"]
    headers = {"x-verticals-cost-usd": f"{cost:f}"}
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
    gw = _gateway(request)
    gw.context(request).recorded = True  # metadata is not a model call
    name = _name(name)
    registered = gw.registry.models.get(name)
    if registered is None:
        raise APIError(404, f"the model {name!r} does not exist; see GET /v1/models", code="model_not_found")
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


async def _generate(
    gw: Gateway, request: Request, backend: VLLMBackend, items: list[Any], params: dict[str, Any]
) -> tuple[list[Any], float, float, float]:
    """An LLM over v2: a text element is a prompt, a JSON list of messages a chat."""
    max_tokens = params.get("max_tokens", 64)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 100_000:
        raise bad("parameters.max_tokens must be an integer from 1 to 100000", "parameters")
    calls = []
    worst = 0.0
    for item in items:
        if isinstance(item, list):
            calls.append(("/chat/completions", {"messages": item, "max_tokens": max_tokens}))
        elif isinstance(item, str):
            calls.append(("/completions", {"prompt": item, "max_tokens": max_tokens}))
        else:
            raise bad(f"{backend.spec.name!r} takes text prompts or JSON lists of chat messages", "inputs")
        worst += len(str(item).encode()) + 8 + max_tokens
    gw.admit(request, worst)
    rid = gw.context(request).request_id
    try:
        answers = await asyncio.gather(
            *(backend.complete(path, body, f"{rid}-{i}") for i, (path, body) in enumerate(calls))
        )
    except Unavailable as error:
        raise unavailable(error) from None
    except UpstreamError as error:
        raise APIError(400 if error.status < 500 else 502, error.message, code="upstream_error") from None
    outputs = []
    for (path, _), (data, _, _) in zip(calls, answers, strict=True):
        choice = (data.get("choices") or [{}])[0]
        outputs.append(
            choice.get("message", {}).get("content") if path == "/chat/completions" else choice.get("text")
        )
    return (
        outputs,
        sum(a[1].prompt_tokens for a in answers),
        sum(a[1].completion_tokens for a in answers),
        sum(a[2] for a in answers),
    )

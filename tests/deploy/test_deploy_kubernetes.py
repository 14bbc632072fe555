"""deploy/k8s: every overlay renders with `kubectl kustomize`, validates against a current Kubernetes
(custom resources against their CRDs' schemas), and keeps the rules the platform depends on (one ledger
writer on DuckDB, non-root, resources, GPU requests). The scale-out overlay's own rules are in
test_deploy_scale_out.py."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import crd_schemas
import pytest
import yaml
from deploy_checks import (
    DEPLOY,
    OVERLAYS,
    SINGLE_WRITER,
    THIRD_PARTY_IMAGES,
    VALIDATE_FLAGS,
    config_map_toml,
    containers,
    env_problems,
    k8s_url_problems,
    kind,
    named,
    pod_specs,
    served_model,
    tool,
    workload,
)

import verticals
from verticals.config import load_settings
from verticals.models import Backend
from verticals.registry import Registry
from verticals.store import ModelStore

Docs = list[dict[str, Any]]


def validate(docs: Docs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubernetes-validate"), *VALIDATE_FLAGS, "-"],
        input=yaml.safe_dump_all(docs),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_current_kubernetes(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    result = validate(docs)
    assert result.returncode == 0, result.stdout + result.stderr
    # kubernetes-validate checks the built-in kinds and only warns about custom ones, which the CRD
    # schemas vendored in crd-schemas/ check instead: every document is checked by one of the two.
    custom = crd_schemas.checked(docs)
    assert result.stdout.count("passed for resource") == len(docs) - len(custom)
    assert result.stdout.count("Couldn't find schema") == len(custom)
    assert crd_schemas.problems(docs) == []


def test_validation_refuses_a_misspelled_field(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["gpu"])
    pod = workload(docs, "gateway")["spec"]["template"]["spec"]
    pod["containers"][0]["resource"] = pod["containers"][0].pop("resources")
    result = validate(docs)
    assert result.returncode != 0
    assert "resource" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_config_points_at_the_vllm_services(rendered: dict[str, Docs], overlay: str) -> None:
    assert k8s_url_problems(rendered[overlay]) == []
    urls = [m["url"] for m in config_map_toml(rendered[overlay])["models"].values() if "url" in m]
    assert urls, "the gateway config sends no model to a vLLM Service"


def test_url_check_catches_a_url_to_no_service(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["gpu"])
    config = next(d for d in kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("verticals-config"))
    config["data"]["verticals.toml"] = config["data"]["verticals.toml"].replace(
        "vllm-nlp-chat:8000", "vllm-chat:8000"
    )
    problems = k8s_url_problems(docs)
    assert any("vllm-chat" in p and "do not define" in p for p in problems), problems
    assert any("reached by no" in p for p in problems), problems


def test_url_check_catches_a_server_for_another_model(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["cpu"])
    vllm = named(docs, "Deployment", "vllm-nlp-chat")["spec"]["template"]["spec"]["containers"][0]
    vllm["command"][1] = "nlp/other"
    assert any("serves nlp/other, not nlp/chat" in p for p in k8s_url_problems(docs))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_is_valid_settings_naming_vllm_models(
    rendered: dict[str, Docs], overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maps = [
        d
        for d in kind(rendered[overlay], "ConfigMap")
        if d["metadata"]["name"].startswith("verticals-config")
    ]
    path = tmp_path / "verticals.toml"
    path.write_text(maps[0]["data"]["verticals.toml"])
    monkeypatch.setenv("VERTICALS_CONFIG", str(path))
    settings = load_settings()
    registry = Registry.load()
    for model in settings.models:
        assert model in registry.models, (
            f"verticals.toml configures {model}, which no installed plugin registers"
        )
        assert registry.models[model].item.backend == Backend.VLLM
        # the model store accepts the source the vLLM pod will pull (scheme, version id)
        ModelStore.from_settings(settings).resolve(registry.models[model].item)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_non_root_and_bounded(rendered: dict[str, Docs], overlay: str) -> None:
    for name, pod in pod_specs(rendered[overlay]):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        for container in containers(pod):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where} {bound}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_ones_built_here(rendered: dict[str, Docs], overlay: str) -> None:
    built = {f"verticals-cpu:{verticals.__version__}", f"verticals-gpu:{verticals.__version__}"}
    for name, pod in pod_specs(rendered[overlay]):
        for container in containers(pod):
            if container["image"] in THIRD_PARTY_IMAGES:
                continue
            assert container["image"] in built, f"{name}/{container['name']} runs {container['image']}"
            flavour = container["image"].split(":")[0].removeprefix("verticals-")
            assert (DEPLOY / "docker" / f"Dockerfile.{flavour}").is_file()


def test_llms_run_on_gpus_only_in_the_gpu_overlay(rendered: dict[str, Docs]) -> None:
    for overlay, docs in rendered.items():
        for name, pod in pod_specs(docs):
            for container in pod["containers"]:
                gpus = container["resources"]["limits"].get("nvidia.com/gpu")
                if served_model(container.get("command", [])) and overlay == "gpu":
                    assert gpus and container["resources"]["requests"]["nvidia.com/gpu"] == gpus, name
                    assert container["image"].startswith("verticals-gpu:"), name
                    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"]), name
                else:
                    assert gpus is None, f"{overlay}: {name} asks for a GPU"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_the_health_endpoints(rendered: dict[str, Docs], overlay: str) -> None:
    for name, pod in pod_specs(rendered[overlay]):
        for container in pod["containers"]:
            assert "readinessProbe" in container, f"{name}/{container['name']} has no readiness probe"
            if container["image"] in THIRD_PARTY_IMAGES:
                continue
            path = container["readinessProbe"]["httpGet"]["path"]
            if served_model(container.get("command", [])):
                assert path == "/health", name
                assert container["startupProbe"]["httpGet"]["path"] == "/health", name
            elif name == "gateway":
                assert path == "/v2/health/ready"
                assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


@pytest.mark.parametrize("overlay", SINGLE_WRITER)
def test_one_ledger_writer(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    gateway = named(docs, "Deployment", "gateway")
    hpa = named(docs, "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    # DuckDB allows one writing process: never two gateways on one ledger, not even during a rollout.
    assert hpa["spec"]["maxReplicas"] == 1
    assert gateway["spec"]["strategy"]["type"] == "Recreate"
    pod = gateway["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts[env["VERTICALS_HOME"]["value"]]]["persistentVolumeClaim"]["claimName"]
    assert named(docs, "PersistentVolumeClaim", claim)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_admin_token_comes_from_a_secret_never_committed(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    assert kind(docs, "Secret") == [], "a Secret in the manifests would put the admin token in git"
    readme = (DEPLOY / "README.md").read_text()
    for name in ("gateway", "dashboard"):
        env = {e["name"]: e for e in workload(docs, name)["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env["VERTICALS_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
        # deploy/README.md tells the operator to create exactly this Secret and key.
        assert (
            f"kubectl -n verticals create secret generic {ref['name']} --from-literal={ref['key']}=" in readme
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_is_mounted_where_verticals_config_says(rendered: dict[str, Docs], overlay: str) -> None:
    for name, pod in pod_specs(rendered[overlay]):
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in containers(pod):
            if container["image"] in THIRD_PARTY_IMAGES:
                continue
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert "VERTICALS_CONFIG" in env, f"{name}/{container['name']} would miss the cluster's settings"
            path = Path(env["VERTICALS_CONFIG"])
            mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
            assert volumes[mount["name"]]["configMap"]["name"].startswith("verticals-config"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_names_exist(rendered: dict[str, Docs], overlay: str) -> None:
    names = [
        (f"{name}/{c['name']}", e["name"])
        for name, pod in pod_specs(rendered[overlay])
        for c in containers(pod)
        for e in c.get("env", [])
    ]
    problems = [p for where, env in names for p in env_problems([env], where)]
    assert problems == []
    assert env_problems(["VERTICALS_ADMIN_TOKNE"], "typo"), "the check must catch a misspelled setting"


@pytest.mark.parametrize("overlay", SINGLE_WRITER)
def test_vllm_is_reachable_from_the_gateway_only(rendered: dict[str, Docs], overlay: str) -> None:
    policy = named(rendered[overlay], "NetworkPolicy", "vllm-from-gateway-only")["spec"]
    gateway_labels = workload(rendered[overlay], "gateway")["spec"]["template"]["metadata"]["labels"]
    allowed = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert all(gateway_labels.get(k) == v for k, v in allowed.items())
    for name, pod in pod_specs(rendered[overlay]):
        labels = workload(rendered[overlay], name)["spec"]["template"]["metadata"]["labels"]
        covered = all(labels.get(k) == v for k, v in policy["podSelector"]["matchLabels"].items())
        assert covered == any(served_model(c.get("command", [])) for c in pod["containers"]), name


def test_base_alone_names_no_vllm_image() -> None:
    """The base leaves the vLLM image to the overlays; rendering it alone shows the placeholder."""
    from deploy_checks import render

    docs = render(DEPLOY / "k8s" / "base")
    images = {c["image"] for _, pod in pod_specs(docs) for c in containers(pod)}
    assert "verticals-vllm" in images


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_commands_parse(rendered: dict[str, Docs], overlay: str) -> None:
    from deploy_checks import cli_problems

    from verticals.cli import attach_core_commands, cli

    attach_core_commands(cli)
    for name, pod in pod_specs(rendered[overlay]):
        for container in containers(pod):
            command = container["command"]
            if command[0] == "vllm-serve":
                assert served_model(command) == ("nlp/chat", 8000), name
            elif command[1] in cli.commands:
                assert cli_problems(command) == [], f"{name}/{container['name']}"

"""deploy/k8s/overlays/scale-out: N gateway replicas on a shared PostgreSQL ledger (CloudNativePG) and
Redis, each with a spool volume of its own, autoscaled on CPU and requests in flight, the secrets all
referenced and none committed, and the LLM tier reached through an inference gateway; README.md's
"Scaling out" commands are well formed."""

from __future__ import annotations

import copy
import re
import shlex
from typing import Any

import crd_schemas
import pytest
from deploy_checks import (
    DEPLOY,
    REPO,
    SCALE_OUT,
    cli_problems,
    env_problems,
    k8s_url_problems,
    kind,
    named,
    workload,
)

Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def docs(rendered: dict[str, Docs]) -> Docs:
    return rendered[SCALE_OUT]


def gateway_env(docs: Docs) -> dict[str, dict[str, Any]]:
    container = workload(docs, "gateway")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_gateway_runs_replicas_each_with_its_own_spool_volume(docs: Docs) -> None:
    gateway = workload(docs, "gateway")
    # A StatefulSet: each replica's claim outlives its pod, so a spool of acknowledged events is never
    # deleted with the pod that wrote it.
    assert gateway["kind"] == "StatefulSet"
    assert gateway["spec"]["replicas"] >= 2
    assert gateway["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    home = gateway_env(docs)["VERTICALS_HOME"]["value"]
    pod = gateway["spec"]["template"]["spec"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == home]
    claims = {t["metadata"]["name"] for t in gateway["spec"]["volumeClaimTemplates"]}
    assert mount["name"] in claims, "the data directory (and its spool) must be the replica's own claim"
    assert mount["name"] not in {v["name"] for v in pod.get("volumes", [])}
    assert named(docs, "Service", gateway["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    # the base's single-writer volume is gone
    assert not [d for d in kind(docs, "PersistentVolumeClaim") if d["metadata"]["name"] == "verticals-data"]
    assert not [d for d in kind(docs, "Deployment") if d["metadata"]["name"] == "gateway"]


def test_autoscaler_on_cpu_and_requests_in_flight(docs: Docs) -> None:
    from verticals.serving.metrics import Metrics

    hpa = named(docs, "HorizontalPodAutoscaler", "gateway")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "gateway"}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    by_type = {m["type"]: m for m in hpa["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    pods = by_type["Pods"]["pods"]
    # the metric the gateway exports (through prometheus-adapter, as hpa.yaml documents)
    gauges = {metric.name for metric in Metrics().registry.collect() if metric.type == "gauge"}
    assert pods["metric"]["name"] in gauges
    assert pods["metric"]["name"] == "verticals_requests_in_flight"
    assert "prometheus-adapter" in (DEPLOY / "k8s" / "overlays" / SCALE_OUT / "hpa.yaml").read_text()
    template = workload(docs, "gateway")["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_disruption_budget_keeps_a_replica_up(docs: Docs) -> None:
    budget = named(docs, "PodDisruptionBudget", "gateway")["spec"]
    labels = workload(docs, "gateway")["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in budget["selector"]["matchLabels"].items())
    minimum = named(docs, "HorizontalPodAutoscaler", "gateway")["spec"]["minReplicas"]
    assert budget.get("maxUnavailable", minimum) < minimum or 0 < budget.get("minAvailable", 0) < minimum


def test_database_and_redis_urls_come_from_secrets(docs: Docs) -> None:
    env = gateway_env(docs)
    cluster = named(docs, "Cluster", "verticals-db")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2
    # a batch leaves a gateway's spool once committed: the commit must survive a failover
    assert cluster["spec"]["postgresql"]["synchronous"]["number"] >= 1
    # CloudNativePG writes the app user's credentials into the Secret <cluster>-app, key uri
    database = env["VERTICALS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert database == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
    redis = env["VERTICALS_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert env["VERTICALS_REDIS_FAIL_OPEN"]["value"] == "false"
    server = workload(docs, "redis")["spec"]["template"]["spec"]["containers"][0]
    password = {e["name"]: e for e in server["env"]}["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password["name"] == redis["name"]
    assert "$(REDIS_PASSWORD)" in server["command"]
    # deploy/README.md tells the operator to create exactly these Secrets and keys
    readme = (DEPLOY / "README.md").read_text()
    create = f"kubectl -n verticals create secret generic {redis['name']}"
    assert create in readme
    line = next(line for line in readme.splitlines() if create in line)
    assert f"--from-literal={redis['key']}=" in line and f"--from-literal={password['key']}=" in line
    assert "@redis:6379/0" in line


def test_no_password_in_the_manifests(docs: Docs) -> None:
    assert kind(docs, "Secret") == []
    for doc in docs:
        for container in _containers_anywhere(doc):
            for env in container.get("env", []):
                value = str(env.get("value", ""))
                assert "://" not in value or "@" not in value, (
                    f"{doc['kind']}: {env['name']} holds credentials"
                )
                assert "password" not in env["name"].lower() or "valueFrom" in env, env["name"]
    config = next(d for d in kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("verticals-config"))
    assert "database_url" not in config["data"]["verticals.toml"]


def _containers_anywhere(node: Any) -> list[dict[str, Any]]:
    """Every container spec in a document, custom resources' pod templates included."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found += value
            found += _containers_anywhere(value)
    elif isinstance(node, list):
        for item in node:
            found += _containers_anywhere(item)
    return found


def test_redis_is_one_instance_that_never_evicts(docs: Docs) -> None:
    redis = workload(docs, "redis")
    # two instances behind one Service would each count half the traffic
    assert redis["kind"] == "Deployment" and redis["spec"]["replicas"] == 1
    assert redis["spec"]["strategy"]["type"] == "Recreate"
    command = redis["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert named(docs, "Service", "redis")["spec"]["ports"][0]["port"] == 6379


@pytest.mark.parametrize(
    ("policy", "target"),
    [
        ("redis-from-gateway-only", {"app.kubernetes.io/name": "redis"}),
        ("verticals-db-ingress", {"cnpg.io/cluster": "verticals-db"}),
        (
            "inference-gateway-from-verticals-only",
            {"gateway.networking.k8s.io/gateway-name": "inference-gateway"},
        ),
    ],
)
def test_only_the_gateway_reaches_the_shared_services(
    docs: Docs, policy: str, target: dict[str, str]
) -> None:
    spec = named(docs, "NetworkPolicy", policy)["spec"]
    assert spec["podSelector"]["matchLabels"] == target
    gateway_labels = workload(docs, "gateway")["spec"]["template"]["metadata"]["labels"]
    selectors = [
        peer.get("podSelector", {}).get("matchLabels") for rule in spec["ingress"] for peer in rule["from"]
    ]
    assert any(all(gateway_labels.get(k) == v for k, v in s.items()) for s in selectors if s)


def test_llm_tier_is_an_inference_gateway_in_front_of_vllm_replicas(docs: Docs) -> None:
    assert k8s_url_problems(docs) == []
    [service] = kind(docs, "LLMInferenceService")
    assert service["spec"]["replicas"] >= 2
    assert service["spec"]["router"]["scheduler"] == {}, "KServe deploys the endpoint picker and the pool"
    main = service["spec"]["template"]["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == main["resources"]["requests"]["nvidia.com/gpu"]
    assert any(t["key"] == "nvidia.com/gpu" for t in service["spec"]["template"]["tolerations"])
    [gateway] = kind(docs, "Gateway")
    # vLLM has no authentication: the inference gateway must not get a public load balancer
    assert gateway["metadata"]["annotations"]["networking.istio.io/service-type"] == "ClusterIP"
    vllm = named(docs, "NetworkPolicy", "vllm-from-inference-gateway-only")["spec"]
    assert vllm["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == service["metadata"]["name"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: _route(d)["spec"]["rules"][0]["matches"][0]["path"].update(value="/v2"), "0 HTTPRoute"),
        (
            lambda d: _route(d)["spec"]["rules"][0]["backendRefs"][0].update(name="other"),
            "no LLMInferenceService",
        ),
        (lambda d: kind(d, "LLMInferenceService")[0]["spec"]["model"].update(name="x"), "vLLM serves 'x'"),
        (lambda d: kind(d, "Gateway")[0]["spec"].update(gatewayClassName="kgateway"), "do not define"),
        (lambda d: kind(d, "Gateway")[0]["spec"]["listeners"][0].update(port=8080), "no listener on port 80"),
    ],
)
def test_url_check_follows_the_route_to_the_pool(docs: Docs, change: Any, expected: str) -> None:
    broken = copy.deepcopy(docs)
    change(broken)
    problems = k8s_url_problems(broken)
    assert any(expected in p for p in problems), problems


def _route(docs: Docs) -> dict[str, Any]:
    return named(docs, "HTTPRoute", "nlp-chat")


def test_custom_resource_check_refuses_a_misspelled_field(docs: Docs) -> None:
    broken = copy.deepcopy(docs)
    named(broken, "Cluster", "verticals-db")["spec"]["instance"] = 3
    main = kind(broken, "LLMInferenceService")[0]["spec"]["template"]["containers"][0]
    main["resource"] = main.pop("resources")
    problems = crd_schemas.problems(broken)
    assert any("Cluster/verticals-db" in p and "'instance' was unexpected" in p for p in problems), problems
    assert any("spec.template.containers.0" in p and "'resource'" in p for p in problems), problems
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("no schema vendored" in p for p in crd_schemas.problems([unknown]))


def readme_block() -> list[str]:
    """The commands of README.md's scale-out example (tests/core/test_readme.py runs none of them: they
    start servers on fixed ports)."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Scaling out\n") :]
    section = section[: section.index("\n## ", 1)]
    [block] = re.findall(r"<!-- example: scale-out -->\n```bash\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_runs_three_replicas_that_share_postgres_and_redis() -> None:
    from verticals.config import Settings

    serves = [shlex.split(line.removesuffix("&")) for line in readme_block() if " verticals serve" in line]
    assert len(serves) == 3
    envs = []
    for words in serves:
        env = dict(word.split("=", 1) for word in words if re.match(r"[A-Z_]+=", word))
        argv = [word for word in words if not re.match(r"[A-Z_]+=", word)]
        assert env_problems(env, "README serve") == []
        assert cli_problems(argv) == [], argv
        settings = Settings(database_url=env["VERTICALS_DATABASE_URL"], redis_url=env["VERTICALS_REDIS_URL"])
        assert settings.database_url and settings.redis_url
        envs.append(env)
    for name in ("VERTICALS_DATABASE_URL", "VERTICALS_REDIS_URL"):
        assert len({env[name] for env in envs}) == 1, f"the replicas must share {name}"
    for name in ("VERTICALS_HOME", "VERTICALS_PORT"):
        assert len({env[name] for env in envs}) == 3, f"each replica needs its own {name}"


def test_readme_starts_the_servers_as_non_root_with_one_admin_token() -> None:
    lines = readme_block()
    for tool in ("initdb", "pg_ctl", "createdb"):
        [line] = [line for line in lines if f"/usr/lib/postgresql/15/bin/{tool} " in line]
        assert line.startswith("runuser -u postgres -- "), line
    assert "redis-server --port 6379 --save '' --appendonly no --daemonize yes" in lines
    first_serve = next(i for i, line in enumerate(lines) if " verticals serve" in line)
    assert any(line.startswith("export VERTICALS_ADMIN_TOKEN=") for line in lines[:first_serve])


def test_readme_tables_name_every_scale_out_setting() -> None:
    from verticals.config import Settings

    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Scaling out\n") : text.index("\n## Writing a plugin\n")]
    for name in ("database_url", "redis_url", "redis_fail_open"):
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`VERTICALS_{name.upper()}`" in row
    assert Settings.model_fields["redis_fail_open"].default is False
    assert "| `false`: " in section
    for per_replica in ("`<home>/ledger.spool`", "`VERTICALS_ADMIN_TOKEN`", "`<home>/admin_token`"):
        assert per_replica in section
    assert "`make up`" in section and "unchanged" in section

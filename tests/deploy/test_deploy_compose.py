"""deploy/compose.yaml: parses as a Compose Specification file and references only images built here
(and pinned PostgreSQL and Redis releases), settings verticals reads, volumes and configs it defines, and
a vLLM server the gateway's URL reaches; its profile scale-out runs two gateways on shared PostgreSQL and
Redis, each with a spool volume of its own."""

from __future__ import annotations

import copy
import subprocess
import tomllib
from typing import Any

import pytest
import yaml
from compose_spec import PyOptions
from deploy_checks import (
    DEPLOY,
    REPO,
    THIRD_PARTY_IMAGES,
    cli_problems,
    compose_url_problems,
    env_problems,
    vllm_serve_module,
)

import verticals

Compose = dict[str, Any]

SCALED_GATEWAYS = ("gateway-1", "gateway-2")


def spec_problems(text: str) -> list[str]:
    """What the Compose Specification parser refuses (unknown keys, wrong types, undefined resources)."""
    try:
        PyOptions(apply_merge=True).from_yaml(text).validate()
    except ValueError as error:
        return [str(error)]
    return []


def settings() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "compose.verticals.toml").read_text())


def test_follows_the_compose_specification() -> None:
    assert spec_problems((DEPLOY / "compose.yaml").read_text()) == []


def test_specification_check_refuses_a_misspelled_key(compose: Compose) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["enviroment"] = broken["services"]["gateway"].pop("environment")
    assert spec_problems(yaml.safe_dump(broken))


def test_images_are_built_here(compose: Compose) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if image in THIRD_PARTY_IMAGES:
            assert "build" not in service, name
            continue
        flavour = image.split(":")[0].removeprefix("verticals-")
        assert image == f"verticals-{flavour}:{verticals.__version__}", f"{name} runs {image}"
        assert service["build"] == {"context": "..", "dockerfile": f"deploy/docker/Dockerfile.{flavour}"}, (
            name
        )
        assert (REPO / service["build"]["dockerfile"]).is_file()


def test_environment_names_exist(compose: Compose) -> None:
    for name, service in compose["services"].items():
        assert env_problems(service.get("environment", {}), f"compose service {name}") == []
    example = [
        line.split("=", 1)[0]
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert example == ["VERTICALS_ADMIN_TOKEN"]
    assert env_problems(example, ".env.example") == []
    scale_out = [
        line.split("=", 1)[0]
        for line in (DEPLOY / ".env.scale-out.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert scale_out == ["POSTGRES_PASSWORD", "VERTICALS_DATABASE_URL"]
    assert env_problems(scale_out, ".env.scale-out.example") == []


def test_admin_token_comes_from_an_uncommitted_env_file(compose: Compose) -> None:
    for name in ("gateway", "dashboard"):
        assert compose["services"][name]["env_file"] == [{"path": ".env", "required": True}], name
    for name in SCALED_GATEWAYS:
        assert {"path": ".env", "required": True} in compose["services"][name]["env_file"], name
    for secret in ("deploy/.env", "deploy/.env.scale-out"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", secret], cwd=REPO, capture_output=True, check=False
        )
        assert ignored.returncode == 0, f"{secret} must be ignored by git: it holds a secret"
    assert "VERTICALS_ADMIN_TOKEN" not in str(
        {k: v.get("environment") for k, v in compose["services"].items()}
    ), "the token belongs in the env file, not in compose.yaml"


def test_references_are_defined(compose: Compose) -> None:
    volumes, configs = set(compose["volumes"]), set(compose["configs"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in volumes, f"{name} mounts volume {source}, which compose.yaml does not define"
        for config in service.get("configs", []):
            assert config["source"] in configs, name
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown service {dependency}"
    for config in compose["configs"].values():
        assert (DEPLOY / config["file"]).is_file()


def test_ledger_lives_on_a_named_volume(compose: Compose) -> None:
    gateway = compose["services"]["gateway"]
    home = gateway["environment"]["VERTICALS_HOME"]
    assert f"data:{home}" in gateway["volumes"]
    assert "data" in compose["volumes"]


def test_gateway_points_at_the_vllm_server(compose: Compose) -> None:
    assert compose_url_problems(compose, settings()) == []
    gateway = compose["services"]["gateway"]
    assert gateway["depends_on"]["vllm-nlp-chat"] == {"condition": "service_healthy"}
    mounted = {c["target"] for c in gateway["configs"]}
    assert gateway["environment"]["VERTICALS_CONFIG"] in mounted


def test_url_check_catches_a_wrong_port(compose: Compose) -> None:
    broken = copy.deepcopy(settings())
    broken["models"]["nlp/chat"]["url"] = "http://vllm-nlp-chat:8001/v1"
    assert any("8001" in p for p in compose_url_problems(compose, broken))


def test_vllm_runs_on_a_gpu(compose: Compose) -> None:
    vllm = compose["services"]["vllm-nlp-chat"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert vllm["image"].startswith("verticals-gpu:")
    assert "/health" in " ".join(vllm["healthcheck"]["test"])


def test_vllm_arguments_parse(compose: Compose) -> None:
    args = vllm_serve_module().parse_args(compose["services"]["vllm-nlp-chat"]["command"][1:])
    assert (args.model, args.port, args.max_model_len) == ("nlp/chat", 8000, 8192)
    assert args.extra == ["--gpu-memory-utilization", "0.90"]


@pytest.mark.parametrize("service", ["gateway", "dashboard", *SCALED_GATEWAYS])
def test_verticals_commands_parse(compose: Compose, service: str) -> None:
    command = compose["services"][service]["command"]
    from verticals.cli import attach_core_commands, cli

    attach_core_commands(cli)
    if command[1] not in cli.commands:
        pytest.skip(f"`verticals {command[1]}` is not attached to the CLI yet (CORE_COMMAND_MODULES)")
    assert cli_problems(command) == []


def test_cli_check_catches_an_unknown_option() -> None:
    assert cli_problems(["verticals", "models", "pull", "--everything"])


def test_scaled_gateways_share_postgres_and_redis(compose: Compose) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:1")
    assert services["redis"]["image"].startswith("redis:7")
    urls = set()
    for name in SCALED_GATEWAYS:
        gateway = services[name]
        assert gateway["profiles"] == ["scale-out"], name
        env = gateway["environment"]
        assert env["VERTICALS_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["VERTICALS_REDIS_FAIL_OPEN"] == "false", name
        # the database URL holds the password: it comes from the uncommitted env file, never from here
        assert "VERTICALS_DATABASE_URL" not in env, name
        assert {"path": ".env.scale-out", "required": True} in gateway["env_file"], name
        for dependency in ("postgres", "redis"):
            assert gateway["depends_on"][dependency] == {"condition": "service_healthy"}, name
        assert "/v2/health/ready" in " ".join(gateway["healthcheck"]["test"]), name
        urls.add(env["VERTICALS_REDIS_URL"])
    assert len(urls) == 1
    for name in ("postgres", "redis"):
        assert services[name]["profiles"] == ["scale-out"]
        assert services[name]["healthcheck"]["test"], name
    # the single-machine services stay in the default profile, unchanged
    assert all("profiles" not in services[name] for name in ("gateway", "dashboard", "vllm-nlp-chat"))


def test_each_scaled_gateway_has_its_own_spool_volume(compose: Compose) -> None:
    homes = []
    for name in SCALED_GATEWAYS:
        gateway = compose["services"][name]
        home = gateway["environment"]["VERTICALS_HOME"]
        [volume] = [m.split(":")[0] for m in gateway["volumes"] if m.split(":")[1] == home]
        assert volume in compose["volumes"], name
        homes.append(volume)
    assert len(set(homes)) == len(SCALED_GATEWAYS), f"the gateways share a spool volume: {homes}"
    assert "data" not in homes, "the single gateway's DuckDB volume is not a spool"


def test_scale_out_env_example_builds_a_valid_database_url() -> None:
    """The command in .env.scale-out.example writes a URL the settings accept, matching the password."""
    from verticals.config import Settings

    text = (DEPLOY / ".env.scale-out.example").read_text()
    command = next(line.strip("# ").split(" > ")[0] for line in text.splitlines() if "python3 -c" in line)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True, timeout=60)
    values = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert set(values) == {"POSTGRES_PASSWORD", "VERTICALS_DATABASE_URL"}
    url = Settings(database_url=values["VERTICALS_DATABASE_URL"]).database_url
    assert url == f"postgresql://verticals:{values['POSTGRES_PASSWORD']}@postgres:5432/verticals"
    assert command in (DEPLOY / "compose.yaml").read_text()

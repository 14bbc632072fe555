"""Customer input is data, never a server path: the gateway opens nothing a request names.

Issue 14, part 1: a v2 BYTES element naming a file (``"/srv/x/t.csv"``), a DuckDB table
(``"duckdb:/x.duckdb:tbl"``) or an image on disk was opened by the model's data adapter; the answer
quoted the file's values, and differed between existing and missing files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Running

PORT = 18240
SECRET = "SECRET-7f3a9c41d2"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    pytest.importorskip("verticals_finance")
    pytest.importorskip("verticals_vision")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_MODEL_CACHE", str(model_cache))  # the predictors find their weights here
        home = tmp_path_factory.mktemp("payloads-home")
        server, running = launch_gateway(
            home,
            PORT,
            models=("finance/fraud", "vision/digits"),
            settings_overrides={"model_cache": model_cache},
        )
        yield running
        server.stop()
        running.ledger.close()


@pytest.fixture(scope="module")
def server_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Files on the server's disk a customer should never reach: a CSV, a DuckDB table, a PNG digit."""
    import duckdb
    import numpy as np
    from PIL import Image
    from verticals_finance.generator import generate

    folder = tmp_path_factory.mktemp("srv-x")
    row = {**generate(1, seed=1)[0], "transaction_id": SECRET, "merchant_category": SECRET}
    header = ",".join(row)
    (folder / "t.csv").write_text(header + "\n" + ",".join(str(v) for v in row.values()) + "\n")
    with duckdb.connect(str(folder / "db.duckdb")) as db:
        db.execute("CREATE TABLE some_table AS SELECT * FROM read_csv_auto(?)", [str(folder / "t.csv")])
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255  # a '1'
    Image.fromarray(digit).save(folder / "digit.png")
    return {
        "csv": str(folder / "t.csv"),
        "missing csv": str(folder / "missing.csv"),
        "duckdb table": f"duckdb:{folder / 'db.duckdb'}:some_table",
        "missing duckdb": f"duckdb:{folder / 'nope.duckdb'}:some_table",
        "file url": f"file://{folder / 't.csv'}",
        "png": str(folder / "digit.png"),
        "missing png": str(folder / "missing.png"),
    }


def infer(gateway: Running, key: str, model: str, element: str) -> httpx.Response:
    """The issue's curl: one BYTES element holding ``element``."""
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [element]}]}
    return httpx.post(
        f"{gateway.url}/v2/models/{model}/infer",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_fraud_refuses_paths_tables_and_urls_with_one_message(
    gateway: Running, server_files: dict[str, str]
) -> None:
    key = gateway.customer("payload-probe-fraud")
    sources = [
        server_files["csv"],
        server_files["missing csv"],
        server_files["duckdb table"],
        server_files["missing duckdb"],
        server_files["file url"],
        "/etc/passwd",
        "/etc/no-such-file",
        "http://127.0.0.1:9/t.csv",
    ]
    messages = {}
    for source in sources:
        response = infer(gateway, key, "finance/fraud", source)
        assert response.status_code == 400, (source, response.text)
        assert SECRET not in response.text and "root:" not in response.text, (source, response.text)
        messages[source] = response.json()["error"]
    # one answer whatever exists on disk: nobody can probe which files the server has
    assert len(set(messages.values())) == 1, messages
    message = next(iter(messages.values()))
    assert "send the data itself, not a path or a URL" in message
    assert not gateway.events(customer="payload-probe-fraud", status=200)


def test_fraud_still_scores_a_json_record(gateway: Running) -> None:
    import json

    from verticals_finance.generator import generate

    key = gateway.customer("payload-probe-fraud-ok")
    response = infer(gateway, key, "finance/fraud", json.dumps(generate(1, seed=1)[0]))
    assert response.status_code == 200, response.text


def test_digits_refuses_a_png_named_by_its_path_on_the_server(
    gateway: Running, server_files: dict[str, str]
) -> None:
    key = gateway.customer("payload-probe-digits")
    existing = infer(gateway, key, "vision/digits", server_files["png"])
    missing = infer(gateway, key, "vision/digits", server_files["missing png"])
    assert existing.status_code == missing.status_code == 400, (existing.text, missing.text)
    assert existing.json()["error"] == missing.json()["error"]
    assert "send the data itself, not a path or a URL" in existing.json()["error"]
    # the same image sent as data is classified
    import base64

    data = base64.b64encode(Path(server_files["png"]).read_bytes()).decode()
    assert infer(gateway, key, "vision/digits", data).status_code == 200

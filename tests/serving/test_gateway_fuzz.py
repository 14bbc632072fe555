"""A bounded schemathesis run against /openapi.json: whatever it sends, the gateway answers below 500.

Every operation gets ``EXAMPLES`` generated requests (a few hundred in all), derandomized so a
failure reproduces.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES = 15


@pytest.mark.slow
def test_no_input_makes_a_5xx(gateway_server: Any) -> None:
    schema = schemathesis.openapi.from_url(gateway_server.url + "/openapi.json")
    key = str(gateway_server.customer("fuzzer"))
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    def make_check(operation: Any) -> Any:
        token = gateway_server.admin_token if operation.path.startswith("/admin") else key

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
            )
            headers = {name.lower(): values for name, values in response.headers.items()}
            assert headers["x-request-id"][0].startswith("req_")
            if response.status_code >= 400:
                assert "error" in response.json()

        return check

    for operation in operations:
        make_check(operation)()
    assert calls >= 200

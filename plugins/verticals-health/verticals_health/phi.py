"""The PHI guard: direct identifiers never reach a log line or a stored file.

``scrub(value)`` returns a copy of any JSON-like value with direct identifiers removed: values under
identifying keys (FHIR ``name``, ``address``, ``telecom``, ``identifier``, ``birthDate``, ``photo``,
``contact``; table columns such as ``patient_name``, ``phone``, ``mrn``, ``ssn``, ``email``) become
``[REDACTED]``, and strings lose phone numbers, e-mail addresses, US social security numbers,
record numbers (``MRN 12345``, ``record #12345``) and ``Patient/<id>`` references.
``scrub_text(text, names)`` also removes given names (those a bundle's Patient resources carry).

``install_log_guard()`` wraps the process's log-record factory so every record, from any logger,
is scrubbed when created: the guard cannot be bypassed by a handler added later.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
IDENTIFYING_KEYS = frozenset(
    {
        "name", "given", "family", "prefix", "suffix", "address", "line", "city", "postalcode", "telecom",
        "phone", "telephone", "mobile", "email", "identifier", "mrn", "medical_record_number",
        "record_number", "ssn", "social_security_number", "birthdate", "date_of_birth", "dob", "photo",
        "contact", "patient_name", "first_name", "last_name", "full_name", "street", "zip", "zipcode",
        "postcode", "patient_id", "subject",
    }
)  # fmt: skip
_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # US SSN
    re.compile(
        r"(?i)\b(?:mrn|medical record(?: number)?|record(?: no\.?| number)?|patient id)"
        r"\s*[:#]?\s*[\w-]*\d[\w-]*"
    ),
    re.compile(r"(?i)\bPatient/[A-Za-z0-9.-]+"),  # FHIR references carry the record id
    # phone numbers: optional country code, area code in brackets or not, 3-4 + 3-4 digits
    re.compile(r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)"),
]  # fmt: skip


def _normal_key(key: str) -> str:
    return key.lower().replace("-", "_").replace(" ", "_")


def scrub_text(text: str, names: Iterable[str] = ()) -> str:
    for name in sorted({n for n in names if len(n) > 1}, key=len, reverse=True):
        text = re.sub(rf"(?i)\b{re.escape(name)}\b", REDACTED, text)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(value: Any, names: Iterable[str] = ()) -> Any:
    names = tuple(names)
    if isinstance(value, dict):
        return {
            key: REDACTED if _normal_key(str(key)) in IDENTIFYING_KEYS else scrub(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, names) for item in value]
    if isinstance(value, str):
        return scrub_text(value, names)
    return value


def patient_names(bundle: Any) -> set[str]:
    """Every given and family name in a bundle's Patient resources, to scrub from free text."""
    found: set[str] = set()
    entries = bundle.get("entry", []) if isinstance(bundle, dict) else []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
        if isinstance(resource, dict) and resource.get("resourceType") in ("Patient", "RelatedPerson"):
            for name in resource.get("name", []) or []:
                if isinstance(name, dict):
                    found.update(str(g) for g in name.get("given", []) or [])
                    if name.get("family"):
                        found.add(str(name["family"]))
                    if name.get("text"):
                        found.update(str(name["text"]).split())
    return found


_installed = False


def install_log_guard() -> None:
    """Scrub every log record this process creates from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg = scrub_text(record.getMessage())
            record.args = None
        except Exception:  # a record that cannot be formatted is dropped to a placeholder, never leaked
            record.msg, record.args = "[log record withheld by the PHI guard]", None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True

"""health/diagnosis: FHIR and table adapters, the PHI guard, reason codes and the evaluation."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from verticals_health.cases import read_case_table
from verticals_health.evaluation import DATASET, SUITE, read_holdout
from verticals_health.features import CODE_SYSTEM, NAMES
from verticals_health.fhir import make_bundle
from verticals_health.model import load_data, read_cases, safe_summary
from verticals_health.phi import REDACTED, install_log_guard, scrub

from verticals.adapters import AdapterError


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return read_holdout(DATASET)


def patient_bundle(features: list[float]) -> dict[str, Any]:
    bundle = make_bundle([features], subjects=["Patient/MRN-884213"])
    bundle["entry"].insert(
        0,
        {
            "resource": {
                "resourceType": "Patient",
                "id": "MRN-884213",
                "name": [{"given": ["Jane"], "family": "Doe"}],
                "telecom": [{"system": "phone", "value": "+1 (555) 201-7788"}],
                "address": [{"line": ["12 Elm Street"], "city": "Springfield"}],
            }
        },
    )
    return bundle


def test_fhir_bundle_and_table_give_the_same_scores(predictor: Any, cases: list[Any], tmp_path: Path) -> None:
    rows = [c["features"] for c in cases[:4]]
    bundle = make_bundle(rows)
    np.testing.assert_allclose(read_cases(bundle), rows, rtol=1e-6)
    frame = pd.DataFrame(rows, columns=NAMES)
    frame.to_csv(tmp_path / "cases.csv", index=False)
    from_table = predictor.predict(read_case_table(str(tmp_path / "cases.csv")))
    from_fhir = predictor.predict(read_cases(bundle))
    assert [o["score"] for o in from_table] == pytest.approx([o["score"] for o in from_fhir], abs=1e-5)
    underscored = {name.replace(" ", "_"): value for name, value in zip(NAMES, rows[0], strict=True)}
    np.testing.assert_allclose(read_cases(underscored), rows[:1], rtol=1e-6)


def test_scores_come_with_reason_codes(predictor: Any, cases: list[Any]) -> None:
    malignant = next(c for c in cases if c["label"] == 1)
    output = predictor.predict([patient_bundle(malignant["features"])])[0]
    assert output["diagnosis"] == "malignant" and output["score"] > 0.5
    reasons = output["reason_codes"]
    assert reasons and all(r["feature"] in NAMES and r["contribution"] > 0 for r in reasons)
    assert all(r["code"] == f"H{NAMES.index(r['feature']) + 1:02d}" for r in reasons)


def test_missing_and_unit_mismatched_observations_are_named(cases: list[Any]) -> None:
    bundle = patient_bundle(cases[0]["features"])
    short = copy.deepcopy(bundle)
    short["entry"] = [e for e in short["entry"] if "worst-area" not in str(e["resource"].get("code"))]
    with pytest.raises(AdapterError, match="patient 1: no Observation for worst area") as missing:
        read_cases(short)
    wrong_unit = copy.deepcopy(bundle)
    observation = next(
        e["resource"] for e in wrong_unit["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    observation["valueQuantity"].update(code="mm", unit="mm")
    with pytest.raises(AdapterError, match=r"'mean radius' is in 'mm' but the model needs '\{px\}'") as unit:
        read_cases(wrong_unit)
    for error in (missing, unit):  # errors never echo the patient's record number
        assert "MRN" not in str(error.value) and "884213" not in str(error.value)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"resourceType": "Observation"}, "expected a FHIR R4 Bundle"),
        ({"resourceType": "Bundle", "entry": []}, "no entries"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]},
            f"coded in {CODE_SYSTEM}",
        ),
        ({"mean radius": 3}, "missing feature"),
        ([1.0, 2.0], "row 0"),
        (42, "not a FHIR Bundle or a JSON record"),
    ],
)
def test_bad_payloads_name_the_problem(payload: Any, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        read_cases(payload)


def test_duplicate_and_unknown_codes_are_refused(cases: list[Any]) -> None:
    bundle = make_bundle([cases[0]["features"]])
    bundle["entry"].append(copy.deepcopy(bundle["entry"][0]))
    with pytest.raises(AdapterError, match="two Observations for 'mean radius'"):
        read_cases(bundle)
    bundle["entry"][-1]["resource"]["code"]["coding"][0]["code"] = "mean-wobble"
    with pytest.raises(AdapterError, match="unknown code 'mean-wobble'"):
        read_cases(bundle)


def test_phi_guard_strips_direct_identifiers_from_stored_payloads(cases: list[Any]) -> None:
    bundle = patient_bundle(cases[0]["features"])
    bundle["entry"][1]["resource"]["note"] = [
        {"text": "Jane Doe called from 555-201-7788, MRN 884213, jd@x.org"}
    ]
    text = str(safe_summary(bundle))
    for identifier in ("Jane", "Doe", "555", "884213", "Elm Street", "Springfield", "jd@x.org"):
        assert identifier not in text, identifier
    assert REDACTED in text
    assert "mean-radius" in text  # the clinical content stays
    assert scrub({"patient_name": "A B", "SSN": "123-45-6789", "value": 3.2}) == {
        "patient_name": REDACTED, "SSN": REDACTED, "value": 3.2
    }  # fmt: skip


def test_phi_guard_scrubs_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    install_log_guard()
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.other.library").info(
            "request for Patient/884213 phone %s ssn %s", "(555) 201-7788", "123-45-6789"
        )
    message = caplog.records[-1].getMessage()
    assert "884213" not in message and "201-7788" not in message and "6789" not in message
    assert message.startswith("request for [REDACTED]")


def test_training_reads_customer_tables_with_a_diagnosis_column(cases: list[Any], tmp_path: Path) -> None:
    frame = pd.DataFrame([c["features"] for c in cases], columns=NAMES)
    frame["diagnosis"] = ["malignant" if c["label"] else "benign" for c in cases]
    frame.to_parquet(tmp_path / "cases.parquet")
    features, labels = load_data(str(tmp_path / "cases.parquet"))
    assert features.shape == (len(cases), 30) and labels.tolist() == [c["label"] for c in cases]
    frame.drop(columns=["diagnosis"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    with pytest.raises(AdapterError, match="no diagnosis column"):
        load_data(str(tmp_path / "unlabelled.csv"))


def test_model_card_does_not_keep_identifiers_from_the_data_path(cases: list[Any], tmp_path: Path) -> None:
    from verticals.registry import Registry
    from verticals.training.version import CARD_FILE, train_into

    frame = pd.DataFrame([c["features"] for c in cases], columns=NAMES)
    frame["diagnosis"] = ["malignant" if c["label"] else "benign" for c in cases]
    folder = tmp_path / "exports" / "MRN 884213"
    folder.mkdir(parents=True)
    frame.to_csv(folder / "jane.doe@example.org.csv", index=False)
    out = tmp_path / "version"
    out.mkdir()
    card = train_into(
        Registry.load().model("health/diagnosis"),
        out,
        data=str(folder / "jane.doe@example.org.csv"),
        epochs=1,
    )
    stored = (out / CARD_FILE).read_text()
    for identifier in ("884213", "jane.doe", "example.org"):
        assert identifier not in stored
    assert card["data"]["source"].startswith(str(tmp_path / "exports"))  # the rest of the path is kept
    assert card["data"]["sha256"]  # the digest still pins the exact file


def test_evaluation_suite_passes_on_held_out_cases(predictor: Any, cases: list[Any]) -> None:
    assert len(cases) == 142
    metrics = SUITE.score(cases, predictor.predict)
    failed = {k: metrics[k] for k, t in SUITE.thresholds.items() if not t.passes(metrics[k])}
    assert not failed, failed

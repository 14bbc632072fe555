"""The 30 Wisconsin Diagnostic Breast Cancer features, their FHIR codes and units, and table reading.

Each feature describes the cell nuclei in a digitised fine-needle-aspirate image: the mean, the
standard error (``... error``) and the worst (mean of the three largest) of ten measurements.
Lengths are in image pixels and areas in square pixels as the data set records them (it gives no
physical scale), texture in grey levels; the rest are ratios. In FHIR they are Observations coded
in ``CODE_SYSTEM`` with ``valueQuantity`` in the UCUM units below (``{px}`` etc. are UCUM
annotations of unity, since no physical unit applies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError

CODE_SYSTEM = "https://verticals.dev/fhir/CodeSystem/wdbc"
MEASURES = {
    "radius": "{px}", "texture": "{gray-level}", "perimeter": "{px}", "area": "{px2}", "smoothness": "1",
    "compactness": "1", "concavity": "1", "concave points": "1", "symmetry": "1", "fractal dimension": "1",
}  # fmt: skip
NAMES = [f"mean {m}" for m in MEASURES] + [f"{m} error" for m in MEASURES] + [f"worst {m}" for m in MEASURES]
UNITS = {
    name: MEASURES[name.removeprefix("mean ").removeprefix("worst ").removesuffix(" error")] for name in NAMES
}


def code(name: str) -> str:
    """'mean concave points' -> 'mean-concave-points': the FHIR code of a feature."""
    return name.replace(" ", "-")


CODES = {code(name): name for name in NAMES}


def _key(column: str) -> str:
    return column.strip().lower().replace("_", " ").replace("-", " ")


def record_features(record: dict[str, Any], where: str) -> list[float]:
    """A record keyed by feature names ('mean radius', 'mean_radius' or 'mean-radius') -> 30 floats."""
    by_name = {_key(str(k)): v for k, v in record.items()}
    missing = [name for name in NAMES if by_name.get(name) is None]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AdapterError(
            f"{where}: missing feature(s) {shown}; every record needs all 30 WDBC features "
            "(see the verticals-health README)"
        )
    values = []
    for name in NAMES:
        try:
            value = float(by_name[name])
        except (TypeError, ValueError):
            raise AdapterError(f"{where}: feature {name!r} = {by_name[name]!r} is not a number") from None
        if value != value or value < 0:
            raise AdapterError(f"{where}: feature {name!r} = {value} must be a number >= 0")
        values.append(value)
    return values


def read_table(source: str | Path) -> list[dict[str, Any]]:
    """CSV/Parquet rows as dicts (all columns, labels and identifiers included: callers scrub)."""
    import pandas as pd

    path = Path(source)
    if not path.is_file():
        raise AdapterError(f"no file at {source}; give a .csv or .parquet file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            raise AdapterError(f"{path.name}: only .csv and .parquet tables are read")
    except AdapterError:
        raise
    except Exception as error:  # pandas/pyarrow raise many types for malformed files
        raise AdapterError(f"cannot read {path.name}: {error}") from None
    rows: list[dict[str, Any]] = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return rows

"""The reports' JSON schema file, generated from the contract models.

``python -m kizuna.sensors.schema`` rewrites ``kizuna/sensors/report.schema.json``; a test
checks the file equals :func:`report_schema`, so regenerate after the contract grows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kizuna.contract import Report, json_schema

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def report_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one report line, from :data:`kizuna.contract.Report`."""
    return json_schema(Report)


def schema_text() -> str:
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")

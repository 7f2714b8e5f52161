"""What every config model shares: the NOT_OUTPUT marker and the settings view fingerprints hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

# Field(json_schema_extra=NOT_OUTPUT): a setting that changes how fast or where work runs, never what it
# produces (threads, timeouts, prices, runners); fingerprints leave it out, so changing it redoes nothing.
NOT_OUTPUT: dict[str, Any] = {"affects_output": False}


def output_settings(value: Any) -> Any:
    """`value` as JSON-able data without its NOT_OUTPUT fields, at any depth: what fingerprints hash."""
    if isinstance(value, BaseModel):
        out = {}
        for name, info in type(value).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("affects_output") is False:
                continue
            out[name] = output_settings(getattr(value, name))
        return out
    if isinstance(value, list | tuple):
        return [output_settings(v) for v in value]
    if isinstance(value, dict):
        return {str(k): output_settings(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value

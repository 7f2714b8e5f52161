"""The stage names a build accepts, checked before anything heavy starts (no Prefect import here)."""

from __future__ import annotations

from pipeline.errors import ConfigError

STAGE_ORDER = ("collect", "preprocess", "clean", "pair", "augment", "train")


def check_stages(spec: str | None) -> list[str] | None:
    """`--stages a,b` as a list (None: all), or a ConfigError naming the unknown ones and the choices."""
    if not spec:
        return None
    stages = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGE_ORDER]
    if unknown or not stages:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown) or repr(spec)}; choose from {', '.join(STAGE_ORDER)}")
    return stages

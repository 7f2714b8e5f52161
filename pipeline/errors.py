"""Errors that turn one bad input into a reject row instead of stopping a stage."""

from __future__ import annotations


class ItemError(Exception):
    """A single input item cannot be processed.

    `reason` is a stable snake_case code (it is grouped on in SQL); `detail` is free text for humans.
    Stages catch this, write a `rejects` row and go on with the next item.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConfigError(ValueError):
    """The run configuration is invalid; raised before any stage starts."""

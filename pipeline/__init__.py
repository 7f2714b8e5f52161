"""Derm1M-style corpus construction: the library. Stage logic only; orchestration lives in flows/."""

__version__ = "0.1.0"

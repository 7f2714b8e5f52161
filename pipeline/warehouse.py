"""The DuckDB warehouse: connection, numbered migrations recorded in `_migrations`, row loading.

DuckDB allows one writing process, so only the stage driver (one thread of the flow process) writes;
workers return rows. Every write of a unit's rows happens in one transaction with its work_log entry,
so a killed run leaves either all of a unit or none of it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_DUCKDB_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def connect(path: str | Path = ":memory:", migrate: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (and by default migrate) the warehouse. Extensions never autoload: the machine is offline."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config=dict(_DUCKDB_OFFLINE))
    if migrate:
        apply_migrations(con)
    return con


class WarehouseUnavailable(ConfigError):
    """The warehouse cannot be opened for reading: it does not exist, or a running build holds it."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


def progress_file(path: str | Path) -> Path:
    """Where a running build writes its stage reports, for readers locked out of the warehouse."""
    return Path(f"{path}.progress.json")


def open_readonly(path: str | Path) -> duckdb.DuckDBPyConnection:
    """The warehouse for reading (status, sql, report). A missing file is not created; a file a build holds
    (DuckDB allows one writing process and no readers beside it) raises WarehouseUnavailable naming the
    build's PID, with its progress so far when it wrote any."""
    if str(path) != ":memory:" and not Path(path).exists():
        raise WarehouseUnavailable(f"no warehouse at {path}: run `derm1m build` first")
    try:
        return duckdb.connect(str(path), read_only=True, config=dict(_DUCKDB_OFFLINE))
    except duckdb.IOException as exc:
        held = _LOCK_HOLDER.search(str(exc))
        if held is None:
            raise
        msg = f"the warehouse {path} is held by a running build (PID {held['pid']}); try again when it ends"
        snap = progress_file(path)
        if snap.exists():
            msg += f"; its progress so far is in {snap}"
        raise WarehouseUnavailable(msg) from exc


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    files = sorted(p for p in directory.glob("*.sql") if _MIGRATION_NAME.match(p.name))
    numbers = [p.name[:4] for p in files]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"duplicate migration numbers in {directory}")
    return files


def apply_migrations(con: duckdb.DuckDBPyConnection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply, in order, every migration not yet recorded; return the names applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    done = {r[0] for r in con.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for path in migration_files(directory):
        if path.name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text())
            con.execute("INSERT INTO _migrations VALUES (?, ?)", [path.name, now()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(path.name)
    return applied


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names in order. Read from an empty SELECT's description: information_schema took ~2.5 ms a
    call, three calls per committed batch, which was a third of a light stage's time at 20k pairs."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]], on_conflict_ignore: bool = False
) -> int:
    """Insert dict rows by column name through Arrow (fast, typed by the target table)."""
    if not rows:
        return 0
    columns = table_columns(con, table)
    unknown = set().union(*(r.keys() for r in rows)) - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    present = [c for c in columns if any(c in r for r in rows)]
    arrow = pa.table({c: pa.array([r.get(c) for r in rows]) for c in present})
    name = f"_rows_{table}"
    con.register(name, arrow)
    try:
        verb = "INSERT OR IGNORE" if on_conflict_ignore else "INSERT"
        cols = ", ".join(present)
        con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; register() replaces later
            con.unregister(name)
    return len(rows)


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The warehouse's tables; views (migration 0016) are derived, so they are not listed."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]

"""`derm1m sql` with no query: a small interactive SQL shell on the warehouse (the duckdb CLI is not a
dependency). Statements end with `;` and may span lines; `.tables`, `.views` and `.quit` are built in."""

from __future__ import annotations

import sys
from typing import TextIO

import duckdb

BANNER = "derm1m SQL shell on {db}. End statements with ';'. .tables, .views, .quit. Views: warehouse/README.md"


def print_result(cur: duckdb.DuckDBPyConnection, out: TextIO | None = None, limit: int | None = None) -> None:
    """Tab-separated header and rows (what `derm1m sql QUERY` prints, so it pipes into other tools)."""
    out = out or sys.stdout  # looked up per call: tests and callers swap sys.stdout
    if not cur.description:
        return
    print("\t".join(d[0] for d in cur.description), file=out)
    rows = cur.fetchall() if limit is None else cur.fetchmany(limit)
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row), file=out)


def _dot(con: duckdb.DuckDBPyConnection, cmd: str) -> str | None:
    kind = {".tables": "BASE TABLE", ".views": "VIEW"}.get(cmd)
    if kind is None:
        return None
    names = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                        "AND table_type = ? ORDER BY 1", [kind]).fetchall()  # fmt: skip
    return "\n".join(n for (n,) in names)


def repl(con: duckdb.DuckDBPyConnection, db: str, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        import readline  # noqa: F401 - line editing and history for input()

        print(BANNER.format(db=db), file=out)
    buf: list[str] = []
    while True:
        try:
            line = input("derm1m> " if not buf else "   ...> ") if interactive else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        if not interactive and line == "":
            line = ";" if buf else ".quit"
        stripped = line.strip()
        if not buf and stripped in (".quit", ".exit", "\\q"):
            return 0
        if not buf and (listing := _dot(con, stripped)) is not None:
            print(listing, file=out)
            continue
        buf.append(line.rstrip("\n"))
        if not stripped.endswith(";"):
            continue
        sql, buf = "\n".join(buf), []
        try:
            print_result(con.execute(sql), out, limit=1000 if interactive else None)
        except duckdb.Error as exc:
            print(f"error: {exc}", file=out)

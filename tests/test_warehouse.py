import re

from pipeline.warehouse import apply_migrations, connect, insert_rows, migration_files, user_tables


def test_migrations_recorded_once(con):
    names = [r[0] for r in con.execute("SELECT name FROM _migrations ORDER BY name").fetchall()]
    assert names == [p.name for p in migration_files()]
    assert apply_migrations(con) == []


def test_migrations_persist_in_file(tmp_path):
    db = tmp_path / "w.duckdb"
    connect(db).close()
    c = connect(db)
    assert "stage_runs" in user_tables(c)
    assert apply_migrations(c) == []


def test_every_table_documented(repo, con):
    """warehouse/README.md must list every table a migration creates, with grain and key."""
    readme = (repo / "warehouse" / "README.md").read_text()
    catalogue = readme.split("## Reason codes")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", catalogue, flags=re.M))
    tables = set(user_tables(con))
    assert tables - documented == set(), "undocumented tables"
    assert documented - tables == set(), "documented tables that no migration creates"


def test_tables_follow_naming(con):
    """A stage's tables start with its name; shared capabilities' tables with theirs (llm_calls, llm_cache), the
    takedown tables with `takedown`."""
    prefixes = ("collect", "preprocess", "clean", "pair", "augment", "train", "llm", "vision", "takedown")
    for t in user_tables(con):
        assert t in ("_migrations", "stage_runs", "rejects", "work_log") or t.split("_")[0] in prefixes, t


def test_insert_rows_rejects_unknown_column(con):
    import pytest

    with pytest.raises(KeyError):
        insert_rows(con, "rejects", [{"nope": 1}])

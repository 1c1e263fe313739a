"""Reading the serving snapshot: the only data the dashboards and the pack see.

The snapshot is a read-only DuckDB file published by the pipeline (docs/snapshot.md). Its path is
`CCS_SNAPSHOT`, else `$CCS_HOME/serving/current.duckdb` (CCS_HOME defaults to `./.ccs`);
`current.duckdb` is a symlink to `snapshots/<version>.duckdb`, so the resolved file names the version.
"""

import os
import threading
from pathlib import Path

import duckdb
import pandas as pd

AREAS = ("norfolk", "tower_hamlets", "oldham", "swansea_npt")
ISSUE_GROUPS = ("money", "crisis", "housing", "employment", "legal", "wellbeing", "family_care", "other")
ORGANISATION_TYPES = ("local_authority", "statutory", "vcs")
ORGANISATION_TYPE_NAMES = {"local_authority": "Local authority", "statutory": "Statutory", "vcs": "VCS"}


def snapshot_path() -> Path:
    if os.environ.get("CCS_SNAPSHOT"):
        return Path(os.environ["CCS_SNAPSHOT"])
    return Path(os.environ.get("CCS_HOME", ".ccs")) / "serving" / "current.duckdb"


def snapshot_key(path: Path | None = None) -> tuple[str, int]:
    """What identifies one published snapshot: the resolved file and its modification time (the file
    name is the version; the time also catches a file replaced in place, as older layouts did)."""
    resolved = (path or snapshot_path()).resolve()
    return str(resolved), resolved.stat().st_mtime_ns


class Snapshot:
    """One published snapshot, opened read-only; each table is read once into memory (they are small
    aggregates) and shared. Callers must not change the frames they get."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        self.version = self.path.stem
        self._connection = duckdb.connect(str(self.path), read_only=True)
        self._lock = threading.Lock()
        self._tables: dict[str, pd.DataFrame] = {}
        self.table_names = {name for (name,) in self._connection.execute(
            "select table_name from information_schema.tables").fetchall()}

    def has(self, name: str) -> bool:
        return name in self.table_names

    def table(self, name: str) -> pd.DataFrame:
        with self._lock:  # a DuckDB connection is not safe to share between Streamlit's threads
            if name not in self._tables:
                if name not in self.table_names:
                    raise MissingTable(name)
                self._tables[name] = self._connection.execute(f'select * from "{name}"').df()
            return self._tables[name]

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self._lock:
            return self._connection.execute(sql, params or []).df()

    def close(self) -> None:
        self._connection.close()


class MissingTable(LookupError):
    def __init__(self, name: str):
        super().__init__(f"the snapshot has no table {name!r} (see docs/snapshot.md)")
        self.name = name

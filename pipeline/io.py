"""Reading and writing stage tables and side files, always atomically (temp file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import SCHEMA_VERSION, Table

_VERSION_KEY = b"kaznet_schema_version"
_UMASK = os.umask(0)
os.umask(_UMASK)


class SchemaError(ValueError):
    """A table on disk or in memory does not match `schema.py`."""


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs are for everyone
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def to_arrow(df: pd.DataFrame, table: Table) -> pa.Table:
    """Convert a frame to the table's arrow schema, failing on missing columns."""
    missing = [c for c in table.columns if c not in df.columns]
    if missing:
        raise SchemaError(f"table {table.name!r} lacks columns {missing}")
    arrow = pa.Table.from_pandas(df[table.columns], schema=table.schema, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[_VERSION_KEY] = SCHEMA_VERSION.encode()
    return arrow.replace_schema_metadata(meta)


def write_table(df: pd.DataFrame, path: str | Path, table: Table) -> None:
    """Write `df` as parquet under `table`'s schema, atomically."""
    arrow = to_arrow(df, table)
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(arrow, tmp)


def read_table(path: str | Path, table: Table) -> pd.DataFrame:
    """Read a stage table and check its schema version and columns."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the stage that writes {table.name!r} first (dvc repro)"
        )
    arrow = pq.read_table(path)
    version = (arrow.schema.metadata or {}).get(_VERSION_KEY, b"?").decode()
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{path} has schema version {version}, this code expects {SCHEMA_VERSION}: "
            "rerun the pipeline (dvc repro --force) to rebuild it"
        )
    missing = [c for c in table.columns if c not in arrow.schema.names]
    if missing:
        raise SchemaError(f"{path} lacks columns {missing}: rerun the stage that writes it")
    return arrow.select(table.columns).to_pandas()


def empty_frame(table: Table) -> pd.DataFrame:
    """An empty frame with the table's columns and dtypes."""
    return table.schema.empty_table().to_pandas()

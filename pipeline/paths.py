"""One place for the file layout: every stage reads and writes through a `Paths`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import schema


@dataclass(frozen=True)
class Paths:
    """Where inputs, stage outputs, models, metrics and reports live, relative to `root`."""

    root: Path

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def labeled(self) -> Path:
        return self.root / "data" / "raw" / "labeled"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def quarantine(self) -> Path:
        return self.processed / "quarantine.jsonl"

    def table(self, table: schema.Table) -> Path:
        """Path of a stage table under data/processed/."""
        return self.processed / table.filename

    def resolve(self, path: str | Path) -> Path:
        """A params path (relative to the project root unless absolute)."""
        p = Path(path)
        return p if p.is_absolute() else self.root / p

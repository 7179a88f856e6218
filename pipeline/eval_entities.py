"""`kaznet evaluate entities`: city-body linking on our test set, and NER on NEREL test.

1. `data/raw/labeled/city_body_links.jsonl` (we wrote it): precision / recall / F1 of canonical
   ids per language, counted per sentence as multisets of ids, and the same with exact spans.
   Targets: P >= 0.95, R >= 0.90 for each language. Also counts "trap" errors (the city akimat
   predicted where the gold says the Almaty region).
2. NEREL v1.1 test (`../shared/datasets/nerel_v1_1/`, brat standoff): exact-span P/R/F1 per
   PER/ORG/LOC for plain natasha and for the pipeline (natasha with `refine_ru_orgs` +
   gazetteer spans, BODY and ORG alike, as ORG).
   Gold: PERSON->PER, ORGANIZATION->ORG, CITY/COUNTRY/STATE_OR_PROVINCE/DISTRICT/LOCATION->LOC,
   outermost spans only (a mapped span inside another mapped span is dropped); discontinuous
   spans are skipped. Skipped cleanly when the folder is absent.
3. KazNERD test (`../shared/datasets/kaznerd/IOB2_test.txt`): exact-span P/R/F1 of our Kazakh
   model (`models/kk_ner`) per class (PERSON->PER, ORGANISATION->ORG, GPE, LOCATION->LOC; the
   other KazNERD classes too) and micro over PER/ORG/GPE/LOC, on the gold tokenisation, with
   raw-text sentences/s. Skipped cleanly when the data or the model is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipeline.config import load_params
from pipeline.gazetteer import Gazetteer
from pipeline.io import write_json
from pipeline.paths import Paths
from pipeline.scoring import prf
from pipeline.text import sentence_spans

log = logging.getLogger(__name__)

LINK_SET = "city_body_links.jsonl"
NEREL_MAP = {
    "PERSON": "PER", "ORGANIZATION": "ORG", "CITY": "LOC", "COUNTRY": "LOC",
    "STATE_OR_PROVINCE": "LOC", "DISTRICT": "LOC", "LOCATION": "LOC",
}
Span = tuple[int, int, str]


# ---- linking test set -------------------------------------------------------------------------
def load_link_set(path: str | Path) -> list[dict[str, Any]]:
    """Read the labelled sentences; each needs id, lang, text and gold [{start, end, body_id}]."""
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            for g in item.get("gold", []):
                if item["text"][g["start"]:g["end"]] == "" or not g.get("body_id"):
                    raise ValueError(f"{path}:{n}: bad gold span {g}")
            if item.get("lang") not in ("ru", "kk"):
                raise ValueError(f"{path}:{n}: lang must be ru or kk")
            items.append(item)
    return items


def predict_links(item: dict[str, Any], gazetteer: Gazetteer) -> list[dict[str, Any]]:
    """Gazetteer links of one labelled text (every sentence in the item's language)."""
    text = item["text"]
    sents = [(i, s, e, item["lang"]) for i, (s, e) in enumerate(sentence_spans(text))]
    return [{"start": k.start, "end": k.end, "body_id": k.body_id}
            for k in gazetteer.link(text, sents).links]


def score_links(items: Iterable[dict[str, Any]], gazetteer: Gazetteer) -> dict[str, Any]:
    """P/R/F1 of ids (and of exact span+id) per language, with the errors listed."""
    counts: dict[str, Counter[str]] = {}
    errors: list[dict[str, Any]] = []
    for item in items:
        c = counts.setdefault(item["lang"], Counter())
        pred = predict_links(item, gazetteer)
        gold_ids, pred_ids = Counter(g["body_id"] for g in item["gold"]), Counter(
            p["body_id"] for p in pred)
        tp = sum((gold_ids & pred_ids).values())
        c.update(tp=tp, fp=sum(pred_ids.values()) - tp, fn=sum(gold_ids.values()) - tp)
        gold_sp = {(g["start"], g["end"], g["body_id"]) for g in item["gold"]}
        pred_sp = {(p["start"], p["end"], p["body_id"]) for p in pred}
        c.update(span_tp=len(gold_sp & pred_sp), span_fp=len(pred_sp - gold_sp),
                 span_fn=len(gold_sp - pred_sp))
        c["trap"] += _trap_errors(item["gold"], pred)
        c["items"] += 1
        if gold_ids != pred_ids:
            errors.append({"id": item["id"], "text": item["text"],
                           "gold": sorted(gold_ids.elements()),
                           "pred": sorted(pred_ids.elements())})
    out: dict[str, Any] = {}
    for lang, c in sorted(counts.items()):
        out[lang] = {
            "items": c["items"], **prf(c["tp"], c["fp"], c["fn"]),
            "span": prf(c["span_tp"], c["span_fp"], c["span_fn"]),
            "trap_errors": c["trap"],
        }
    out["errors"] = errors
    return out


def _trap_errors(gold: list[dict[str, Any]], pred: list[dict[str, Any]]) -> int:
    region = [(g["start"], g["end"]) for g in gold if g["body_id"] == "almaty_region_akimat"]
    return sum(1 for p in pred if p["body_id"] == "almaty_akimat"
               and any(p["start"] < e and s < p["end"] for s, e in region))


# ---- NEREL ------------------------------------------------------------------------------------
def load_nerel(folder: str | Path, split: str = "test") -> list[tuple[str, set[Span]]]:
    """(text, outermost gold spans) per NEREL document of `split`."""
    root = Path(folder)
    split_dir = next((p for p in (root / "NEREL-v1.1" / split, root / split) if p.is_dir()), None)
    if split_dir is None:
        raise FileNotFoundError(f"no NEREL {split}/ folder under {root}")
    docs = []
    for txt in sorted(split_dir.glob("*.txt")):
        ann = txt.with_suffix(".ann")
        if not ann.exists():
            continue
        text = txt.read_text(encoding="utf-8")
        with open(ann, encoding="utf-8", newline="") as fh:
            spans = _brat_spans(fh)
        docs.append((text, outermost(spans)))
    return docs


def _brat_spans(lines: Iterable[str]) -> set[Span]:
    out: set[Span] = set()
    for line in lines:
        if not line.startswith("T"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 2:
            continue
        fields = parts[1].split(" ")
        if len(fields) != 3 or ";" in parts[1] or fields[0] not in NEREL_MAP:
            continue  # other types, or a discontinuous span
        out.add((int(fields[1]), int(fields[2]), NEREL_MAP[fields[0]]))
    return out


def outermost(spans: set[Span]) -> set[Span]:
    """Drop every span that lies inside another (longer or equal, other) span."""
    ordered = sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]), s[2]))
    kept: list[Span] = []
    for s in ordered:
        if not any(k[0] <= s[0] and s[1] <= k[1] for k in kept):
            kept.append(s)
    return set(kept)


def score_ner(docs: list[tuple[str, set[Span]]], predict: Callable[[str], set[Span]]
              ) -> dict[str, dict[str, float | int]]:
    """Exact-span P/R/F1 per label, and micro over the three."""
    c: Counter[str] = Counter()
    for text, gold in docs:
        pred = predict(text)
        for label in ("PER", "ORG", "LOC"):
            g = {s for s in gold if s[2] == label}
            p = {s for s in pred if s[2] == label}
            c[label + "tp"] += len(g & p)
            c[label + "fp"] += len(p - g)
            c[label + "fn"] += len(g - p)
    out = {lab: prf(c[lab + "tp"], c[lab + "fp"], c[lab + "fn"]) for lab in ("PER", "ORG", "LOC")}
    out["micro"] = prf(*(sum(c[lab + k] for lab in ("PER", "ORG", "LOC"))
                          for k in ("tp", "fp", "fn")))
    return out


def natasha_predictor(ner: Callable[[list[str]], list[list[Span]]]) -> Callable[[str], set[Span]]:
    return lambda text: set(ner([text])[0])


def pipeline_predictor(ner: Callable[[list[str]], list[list[Span]]], gazetteer: Gazetteer
                       ) -> Callable[[str], set[Span]]:
    """The entities stage's Russian output: natasha with refined ORG spans, and gazetteer
    spans (city bodies and the trap body) as ORG replacing the ORG/LOC spans they overlap."""
    from pipeline.entities import refine_ru_orgs

    def predict(text: str) -> set[Span]:
        sents = [(i, s, e, "ru") for i, (s, e) in enumerate(sentence_spans(text))]
        bodies = {(k.start, k.end, "ORG") for k in gazetteer.link(text, sents).links}
        spans = refine_ru_orgs(text, ner([text])[0], gazetteer.lem.morph)
        keep = {s for s in spans
                if s[2] == "PER" or not any(s[0] < b[1] and b[0] < s[1] for b in bodies)}
        return keep | bodies
    return predict


# ---- CLI --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--no-nerel", action="store_true", help="skip the NEREL evaluation")
    parser.add_argument("--nerel-dir", help="NEREL folder (default: ../shared/datasets/nerel_v1_1)")
    parser.add_argument("--errors", type=int, default=10, help="linking errors to show")
    parser.add_argument("--no-kaznerd", action="store_true",
                        help="skip the Kazakh NER evaluation on KazNERD test")
    parser.add_argument("--kaznerd-dir",
                        help="KazNERD folder (default: params.yaml entities.kk_ner_data)")


def evaluate_kk_ner(model_dir: Path, kaznerd_dir: Path | None) -> dict[str, Any]:
    """KazNERD test scores of the Kazakh model, or {"skipped": reason}."""
    if kaznerd_dir is None:
        return {"skipped": "disabled"}
    test = kaznerd_dir / "IOB2_test.txt"
    if not test.is_file():
        return {"skipped": f"{test} not found"}
    from pipeline import kk_ner, kk_ner_e5

    if (model_dir / kk_ner_e5.HEADER_FILE).is_file():
        test_sents = kk_ner.read_iob2(test)
        ner = kk_ner_e5.KazakhNERE5(model_dir)
        t0 = time.perf_counter()
        pred = ner.tagger.predict([[w for w, _ in s] for s in test_sents])
        seconds = time.perf_counter() - t0
        return {"model": str(model_dir), "gold": "KazNERD test, exact spans, gold tokens",
                "sentences": len(test_sents), "scores": kk_ner_e5.score_tags(test_sents, pred),
                "sentences_per_s": round(len(test_sents) / seconds, 1)}
    if not (model_dir / "config.cfg").is_file():
        return {"skipped": f"no model in {model_dir} (python -m pipeline.train_kk_ner)"}

    return {"model": str(model_dir), "gold": "KazNERD test, exact spans, gold tokens",
            **kk_ner.evaluate_kaznerd(kk_ner.KazakhNER(model_dir).nlp, test)}


def evaluate(root: Path, nerel_dir: Path | None, kaznerd_dir: Path | None = None
             ) -> dict[str, Any]:
    """All metrics as one dict (NEREL under "nerel", KazNERD under "kaznerd", or a reason
    why each was skipped)."""
    paths = Paths(root)
    gazetteer = Gazetteer.from_yaml(root / "configs" / "city_bodies.yaml")
    result: dict[str, Any] = {"linking": score_links(load_link_set(paths.labeled / LINK_SET),
                                                     gazetteer)}
    if nerel_dir is None:
        result["nerel"] = {"skipped": "disabled"}
    elif not nerel_dir.is_dir():
        result["nerel"] = {"skipped": f"{nerel_dir} not found"}
    else:
        from pipeline.entities import NatashaNER

        docs = load_nerel(nerel_dir)
        ner = NatashaNER()
        result["nerel"] = {
            "documents": len(docs), "gold": "outermost PER/ORG/LOC spans, exact match",
            "natasha": score_ner(docs, natasha_predictor(ner)),
            "pipeline": score_ner(docs, pipeline_predictor(ner, gazetteer)),
        }
    cfg = load_params(root).entities
    model_dir = root / (cfg.kk_ner_e5_model if cfg.kk_ner_backend == "e5" else cfg.kk_ner_model)
    result["kaznerd"] = evaluate_kk_ner(model_dir, kaznerd_dir)
    return result


def main(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    nerel: Path | None = None
    if not args.no_nerel:
        nerel = Path(args.nerel_dir) if args.nerel_dir else (
            root.parent / "shared" / "datasets" / "nerel_v1_1")
    kaznerd: Path | None = None
    if not args.no_kaznerd:
        kaznerd = Path(args.kaznerd_dir) if args.kaznerd_dir else (
            root / load_params(root).entities.kk_ner_data)
    result = evaluate(root, nerel, kaznerd)
    errors = result["linking"].pop("errors")
    write_json(Paths(root).metrics / "entities_eval.json", result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    for lang in ("ru", "kk"):
        m = result["linking"].get(lang)
        if m:
            print(f"linking {lang}: n={m['items']} P={m['precision']:.3f} R={m['recall']:.3f} "
                  f"F1={m['f1']:.3f}  (exact span F1={m['span']['f1']:.3f}, "
                  f"trap errors={m['trap_errors']})")
    for e in errors[: args.errors]:
        print(f"  {e['id']}: gold={e['gold']} pred={e['pred']}  {e['text']}")
    nerel_res = result["nerel"]
    if "skipped" in nerel_res:
        print(f"NEREL: skipped ({nerel_res['skipped']})")
    else:
        for system in ("natasha", "pipeline"):
            row = "  ".join(f"{lab} P={v['precision']:.3f} R={v['recall']:.3f} F1={v['f1']:.3f}"
                            for lab, v in nerel_res[system].items())
            print(f"NEREL {system}: {row}")
    _print_kaznerd(result["kaznerd"])
    return 0


def _print_kaznerd(res: dict[str, Any]) -> None:
    if "skipped" in res:
        print(f"KazNERD kk_ner: skipped ({res['skipped']})")
        return
    for lab in ("PER", "ORG", "GPE", "LOC", "micro"):
        v = res["scores"].get(lab)
        if v:
            print(f"KazNERD kk_ner {lab}: P={v['precision']:.3f} R={v['recall']:.3f} "
                  f"F1={v['f1']:.3f}")
    print(f"KazNERD kk_ner: {res['sentences']} sentences, {res['sentences_per_s']} sentences/s")

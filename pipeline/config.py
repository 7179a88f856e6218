"""params.yaml and configs/*.yaml as frozen dataclasses, passed explicitly to each stage."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = "params.yaml"
CONFIG_DIR = "configs"


class ConfigError(ValueError):
    """A parameter or config file is missing or malformed."""


@dataclass(frozen=True)
class IngestParams:
    raw_dir: str = "data/raw/sample"
    near_dup_threshold: float = 0.7
    num_perm: int = 128
    min_text_chars: int = 5
    max_text_chars: int = 200_000


@dataclass(frozen=True)
class LanguageParams:
    backend: str = "hybrid"
    kk_letter_share: float = 0.2
    mixed_min_share: float = 0.15
    sample_chars: int = 2000


@dataclass(frozen=True)
class EntitiesParams:
    use_ner: bool = True
    ner_scope: str = "almaty"
    workers: int = 2
    ner_context: int = 1
    kk_ner_backend: str = "e5"  # e5 (models/kk_ner_e5: better PER/GPE/ORG, ~90 sent/s) | spacy
    kk_ner_e5_model: str = "models/kk_ner_e5"
    kk_ner_model: str = "models/kk_ner"  # the spaCy model (~830 sentences/s)
    kk_ner_data: str = "../shared/datasets/kaznerd"
    kk_ner_epochs: int = 30
    kk_ner_max_seconds: float = 720.0
    kk_ner_dropout: float = 0.2
    kk_ner_weight_decay: float = 1e-6


@dataclass(frozen=True)
class TopicsParams:
    embedder: str = "tfidf"
    model_dir: str = ""
    clusterer: str = "agglomerative"  # agglomerative (seed-free) | hdbscan (UMAP + HDBSCAN)
    distance_threshold: float = 0.85  # agglomerative: average-linkage cosine distance cut
    min_cluster_size: int = 5
    min_samples: int = 3  # hdbscan only
    cluster_selection: str = "leaf"  # hdbscan only
    umap_neighbors: int = 15
    umap_components: int = 5
    svd_components: int = 100
    top_n_words: int = 10
    outlier_threshold: float = 0.3
    vocab_min_df: int = 2
    vocab_max_df: float = 0.5
    batch_size: int = 32
    embed_max_chars: int = 2000
    registry_threshold: float = 0.3  # term-weight cosine to keep a known topic's id
    trend_ratio: float = 1.5  # growing / shrinking: this many times the previous week's documents
    trend_min_docs: int = 3  # ... and at least this many documents apart
    # Kazakh documents join the Russian topic of their event (multilingual e5, only for them)
    crosslingual_align: bool = True
    crosslingual_threshold: float = 0.86  # e5 cosine to a Russian-led topic's centroid
    crosslingual_merge_threshold: float = 0.88  # a Kazakh-majority topic merges whole
    crosslingual_per_topic: int = 8  # Russian members per topic that are embedded
    crosslingual_max_chars: int = 600
    crosslingual_margin: float = 0.01  # best Russian centroid must beat the second best by this


@dataclass(frozen=True)
class TrainSentimentParams:
    model: str = "embed_logreg"
    embedder: str = "tfidf"
    C: float = 0.5
    class_weight: str = "balanced"
    cv_folds: int = 5  # grouped cross-validation folds for the reported metrics (0: none)
    group_threshold: float = 0.5  # skeleton Jaccard at which two examples count as one template
    context_sentences: int = 1
    window_words: int = 6
    extra_label_dirs: tuple[str, ...] = ()  # more folders of sentiment_*.csv (outside git)
    # settings of the `transformer` back-end (pipeline/sentiment_transformer.TransformerConfig)
    transformer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentimentParams:
    batch_size: int = 64
    model_dir: str = "models/sentiment"  # the promoted model (kaznet promote-sentiment), in git


@dataclass(frozen=True)
class ReportParams:
    lang: str = "ru"
    top_negative: int = 10
    top_topics: int = 15  # topics shown in HTML/DOCX (XLSX gets all)
    top_stories: int = 15
    show_rows: int = 30  # rows of the other tables shown in HTML/DOCX
    xlsx_max_rows: int = 5000  # per sheet
    min_topic_docs: int = 3  # a new or growing topic needs at least this many documents
    growth_ratio: float = 1.5  # a topic grows when it has this many times last week's documents
    min_body_mentions: int = 5  # bodies with fewer rated mentions are not flagged
    min_person_docs: int = 2  # a person is listed when named in this many articles
    spike_ratio: float = 2.0  # a day is a spike at this many times the median day


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    domains: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Params:
    seed: int = 20260101
    ingest: IngestParams = field(default_factory=IngestParams)
    language: LanguageParams = field(default_factory=LanguageParams)
    entities: EntitiesParams = field(default_factory=EntitiesParams)
    topics: TopicsParams = field(default_factory=TopicsParams)
    train_sentiment: TrainSentimentParams = field(default_factory=TrainSentimentParams)
    sentiment: SentimentParams = field(default_factory=SentimentParams)
    report: ReportParams = field(default_factory=ReportParams)


T = TypeVar("T")


def _section(cls: type[T], raw: dict[str, Any] | None, name: str) -> T:
    raw = raw or {}
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"params.yaml [{name}]: unknown keys {unknown}; known: {sorted(known)}")
    out = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"params.yaml [{name}].{key} must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                value = type(default)(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"params.yaml [{name}].{key}: not a number: {value!r}") from exc
        out[key] = value
    return cls(**out)


def load_params(root: str | Path = ROOT) -> Params:
    """Read `params.yaml` under `root`; missing sections take their defaults."""
    path = Path(root) / PARAMS_FILE
    raw = _load_yaml(path) if path.exists() else {}
    sections = {f.name: f.type for f in fields(Params) if f.name != "seed"}
    kwargs: dict[str, Any] = {"seed": int(raw.get("seed", Params.seed))}
    classes = {
        "ingest": IngestParams,
        "language": LanguageParams,
        "entities": EntitiesParams,
        "topics": TopicsParams,
        "train_sentiment": TrainSentimentParams,
        "sentiment": SentimentParams,
        "report": ReportParams,
    }
    for name in sections:
        kwargs[name] = _section(classes[name], raw.get(name), name)
    return Params(**kwargs)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def load_config_yaml(name: str, root: str | Path = ROOT) -> dict[str, Any]:
    """Read `configs/<name>` (domain knowledge kept as data)."""
    path = Path(root) / CONFIG_DIR / name
    if not path.exists():
        raise ConfigError(f"{path} is missing: it ships with the repository, restore it from git")
    return _load_yaml(path)


def load_sources(root: str | Path = ROOT) -> tuple[Source, ...]:
    """The monitored sites from `configs/sources.yaml`."""
    raw = load_config_yaml("sources.yaml", root).get("sources") or []
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(
                Source(
                    id=str(item["id"]),
                    name=str(item.get("name", item["id"])),
                    domains=tuple(item.get("domains") or [item["id"]]),
                    languages=tuple(item.get("languages") or []),
                )
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"configs/sources.yaml entry {i}: needs at least an id") from exc
    return tuple(out)

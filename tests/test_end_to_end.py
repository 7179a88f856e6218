"""The whole DAG: `dvc repro` on a small copy of the sample corpus in a temp project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipeline import io, schema
from pipeline.config import ROOT
from pipeline.paths import Paths

pytestmark = pytest.mark.slow

SAMPLE_WEEKS = 3  # the last weeks of the sample keep the run short yet give week-over-week changes


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=1500,
    )


def _copy_sample(dst: Path) -> None:
    src = ROOT / "data" / "raw" / "sample"
    weeks = sorted({p.stem for p in src.rglob("*.jsonl")})[-SAMPLE_WEEKS:]
    for path in src.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".jsonl" and path.stem not in weeks:
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    if not (ROOT / "data" / "raw" / "sample").is_dir():
        pytest.fail("data/raw/sample is missing from the repository")
    proj = tmp_path_factory.mktemp("e2e")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, proj / name)
    for name in ("configs", "pipeline", "models/kk_ner", "models/kk_ner_e5", "models/sentiment"):
        shutil.copytree(ROOT / name, proj / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data" / "raw" / "labeled", proj / "data" / "raw" / "labeled")
    _copy_sample(proj / "data" / "raw" / "sample")
    _git(proj, "init", "-q")
    out = _dvc(proj, "init", "-q")
    assert out.returncode == 0, out.stderr
    out = _dvc(proj, "repro")
    assert out.returncode == 0, f"dvc repro failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "baseline")
    return proj


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=project, check=True, capture_output=True,
    )


def test_second_repro_runs_nothing(project: Path) -> None:
    out = _dvc(project, "status")
    assert out.returncode == 0 and "up to date" in out.stdout, out.stdout
    out = _dvc(project, "repro")
    assert out.returncode == 0 and "Running stage" not in out.stdout, out.stdout


def test_report_matches_tables(project: Path) -> None:
    paths = Paths(project)
    docs = io.read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    reports = sorted((paths.reports / "weekly").glob("weekly_*.html"))
    assert reports, "no weekly report written"
    week = reports[-1].stem.removeprefix("weekly_")
    assert week in set(docs["week"])
    html = reports[-1].read_text(encoding="utf-8")
    assert "<script src=" not in html and "cdn" not in html.lower()
    wb = load_workbook(paths.reports / "weekly" / f"weekly_{week}.xlsx")
    assert len(wb.sheetnames) >= 3
    n_week = int((docs["week"] == week).sum())
    assert f"{n_week}" in html  # the headline document count of the week


def test_every_stage_wrote_its_table(project: Path) -> None:
    paths = Paths(project)
    for table in (schema.DOCUMENTS, schema.LANGUAGES, schema.SENTENCES, schema.MENTIONS,
                  schema.DOC_ENTITIES, schema.DOC_TOPICS, schema.TOPICS, schema.TOPIC_WEEKS,
                  schema.MENTION_SENTIMENT):
        df = io.read_table(paths.table(table), table)
        assert isinstance(df, pd.DataFrame) and len(df) > 0, table.name
    langs = io.read_table(paths.table(schema.LANGUAGES), schema.LANGUAGES)
    assert {"ru", "kk"} <= set(langs["lang"])
    mentions = io.read_table(paths.table(schema.MENTIONS), schema.MENTIONS)
    assert "almaty_akimat" in set(mentions["body_id"].dropna())
    assert (paths.metrics / "sentiment.json").exists()


def test_exp_run_gives_metrics_diff(project: Path) -> None:
    out = _dvc(project, "exp", "run", "-S", "train_sentiment.C=0.3")
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "Running stage 'train_sentiment'" in out.stdout
    diff = _dvc(project, "metrics", "diff", "--all", "--json")
    assert diff.returncode == 0, diff.stderr
    assert "metrics/sentiment.json" in diff.stdout

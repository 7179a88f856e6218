"""The HTML report in a real browser: headless chromium, network off.

Charts render (inline SVG with drawn shapes, coloured pixels on a screenshot), crawled HTML in a
title or a topic label shows as text and never runs, and the page asks the network for nothing.
Skips when no chromium binary is installed (`.ci/run` installs Debian's `chromium`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from test_report import WEEKS, synthetic_tables, write_tables

from pipeline import report
from pipeline.config import Params
from pipeline.paths import Paths

SCRIPT = "<script>window.__pwned=1;document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"document.title='PWNED'\">"
TITLE = "Еженедельный аналитический отчёт: 2026-W13"
BAR_RGB = (0x2E, 0x6D, 0xA4)  # charts.PALETTE[0]
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# a browser with no background traffic and no way out: proxy to a closed port, no DNS
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter,SpellCheck",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
]


def _chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    return next((p for p in map(shutil.which, _BROWSERS) if p), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = _chromium()
    if path is None:
        pytest.skip(
            "no chromium binary found (tried $CHROMIUM, " + ", ".join(_BROWSERS) + "): "
            "install Debian's `chromium` to run the browser test"
        )
    return path


def _run(browser: str, page: Path, tmp: Path, *extra: str) -> tuple[str, list[dict]]:
    """Open `page` in headless chromium; (stdout, URL requests the page itself started)."""
    net_log = tmp / f"net-{len(list(tmp.glob('net-*')))}.json"
    cmd = [
        browser,
        *_FLAGS,
        f"--user-data-dir={tmp / 'profile'}",
        f"--log-net-log={net_log}",
        *extra,
        page.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, _page_requests(net_log)


def _page_requests(net_log: Path) -> list[dict]:
    """URL_REQUEST_START_JOB events the page started (the browser's own have no origin)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    begun = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return [p for p in begun if "url" in p and p.get("initiator") != "not an origin"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weekly report whose widest story title and a topic label carry HTML payloads."""
    tables = synthetic_tables(240, WEEKS)
    tables["documents"].loc[1, "title"] = f"{SCRIPT} Акимат и дороги"  # W13's widest story
    tables["topics"].loc[1, "label"] = f"{IMG} дороги"
    paths = Paths(tmp_path_factory.mktemp("browser"))
    write_tables(paths, tables)
    report.run(Params(), paths, week="2026-W13")
    return paths.reports / "weekly" / "weekly_2026-W13.html"


def test_net_log_sees_page_requests(browser: str, tmp_path: Path) -> None:
    """Control: a page with a remote image does show up in the net log."""
    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><title>c</title><img src="http://example.invalid/x.png">',
        encoding="utf-8",
    )
    _, requests = _run(browser, control, tmp_path, "--dump-dom", "--virtual-time-budget=2000")
    assert [r["url"] for r in requests] == ["http://example.invalid/x.png"]


def test_dom_charts_payload_and_no_requests(browser: str, page: Path, tmp_path: Path) -> None:
    dom, requests = _run(browser, page, tmp_path, "--dump-dom", "--virtual-time-budget=2000")
    assert requests == [], f"the report asked the network for {[r['url'] for r in requests]}"
    # the charts: one inline SVG per charted section, each with drawn shapes
    svgs = re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)
    assert len(svgs) >= 5
    assert all(len(re.findall(r"<(?:path|rect)\b", s)) >= 5 for s in svgs)
    # the payloads are text, and nothing ran
    assert re.search(r"<title>([^<]*)</title>", dom)[1] == TITLE
    assert "&lt;script&gt;window.__pwned=1;document.title='PWNED'&lt;/script&gt; Акимат" in dom
    assert "&lt;img src=x onerror=\"document.title='PWNED'\"&gt;" in dom
    assert not re.search(r"<(?:script|img|iframe|object|embed)\b", dom, flags=re.I)


def test_screenshot_shows_charts(browser: str, page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _, requests = _run(browser, page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    assert requests == []
    image = Image.open(shot).convert("RGB")
    bars = sum(
        n
        for n, rgb in image.getcolors(image.width * image.height)
        if all(abs(a - b) <= 6 for a, b in zip(rgb, BAR_RGB, strict=True))
    )
    # the day and site bar charts cover tens of thousands of pixels; headings' rules ~2,400 each
    assert bars > 30_000, bars

"""The report in a real browser: headless Debian chromium loads every image and draws the page.

The report itself has no scripts; the image check runs on a wrapper copy of the page with a
small script appended that writes the number of decoded images into the title.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.image import imread
from report_fixtures import run_chromium

PROBE = (
    '<script>window.addEventListener("load", function () {'
    " var im = document.images, ok = 0;"
    " for (var i = 0; i < im.length; i++) { if (im[i].complete && im[i].naturalWidth > 0) ok++; }"
    ' document.title = "images " + ok + "/" + im.length;'
    " });</script>"
)


def _probe_copy(html: str, dest: Path) -> Path:
    assert "<script" not in html.lower()
    dest.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return dest


def test_report_browser_loads_every_image(chromium: str, report_html: Path, tmp_path: Path) -> None:
    """Every report image decodes; a corrupt image appended by the test is not counted."""
    html = report_html.read_text(encoding="utf-8")
    n_img = html.count("<img ")
    assert n_img >= 5
    broken = '<img src="data:image/png;base64,AAAA" alt="deliberately broken">'
    page = _probe_copy(html.replace("</body>", broken + "</body>"), tmp_path / "probe.html")
    dom = run_chromium(
        chromium, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()
    )
    title = re.search(r"<title>(.*?)</title>", dom)
    assert title is not None, dom[:300]
    assert title.group(1) == f"images {n_img}/{n_img + 1}"


def test_report_browser_screenshot_shows_the_styled_page(
    chromium: str, report_html: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    run_chromium(
        chromium,
        tmp_path / "profile",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        report_html.as_uri(),
    )
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (2400, 1280)
    header = np.round(255 * image[20:60, 300:900].reshape(-1, 3)).astype(int)
    # the header bar is the accent colour #2b5c8a (43, 92, 138): the inline CSS was applied
    assert np.median(np.abs(header - [43, 92, 138]), axis=0).max() <= 3
    body = image[300:].reshape(-1, 3)
    assert float(body.std()) > 0.05  # tables and figures were drawn, not a blank page
    assert (body.min(axis=1) < 0.3).mean() > 0.005  # some dark ink (text, lines)

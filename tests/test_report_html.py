"""report.html from a real (small) sweep: self-contained, checked as a file, then in a real headless Chromium
(Debian's ``chromium`` driven by Selenium through ``chromedriver``; nothing is downloaded): it loads with no
console error and no network request, every image decodes, the answer comes first, sorting the results table
by ``bytes`` puts the smallest file first, filtering keeps the matching rows, and a screenshot is saved with
the sweep. The browser test skips, with a one-line reason, only where no browser can be had."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from sweeps import run

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# This machine's closed network makes Chromium misbehave without these (and a fresh profile).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1600")
SCREENSHOT = "report_screenshot.png"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A real sweep: one photo and one generated image, two quantizers, two k, three encodings (24 rows)."""
    tmp = tmp_path_factory.mktemp("html")
    table, sweep, _ = run(tmp, "dataset.photos=[china]", "dataset.kinds=[gradient]", "quantizer=sampled,pillow_mediancut",
                          "k=16,64", "encoding=rgb24,labels,png8_pillow")
    assert len(table) == 24 and (table["status"] == "ok").all()
    return sweep


class _Page(HTMLParser):
    """Every tag's attributes, and the text of the headings."""

    def __init__(self):
        super().__init__()
        self.tags, self.headings, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._in = tag
            self.headings.append([tag, ""])

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1][1] += data


def test_html_is_self_contained_and_links_the_sweeps_files(sweep_dir):
    html = (sweep_dir / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == len(list((sweep_dir / "plots").glob("*.png"))) >= 5
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)  # embedded, nothing to fetch
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            assert not re.match(r"(https?:)?//", attrs.get(key, "")), (tag, attrs)  # no network
        assert tag not in ("link", "iframe") and not (tag == "script" and "src" in attrs)
    links = [a["href"] for t, a in page.tags if t == "a" and "file" in a.get("class", "")]
    table = pd.read_parquet(sweep_dir / "results.parquet")
    assert set(table["path"]) <= set(links)  # every written file, relative to the sweep folder
    assert all((sweep_dir / href).is_file() and not Path(href).is_absolute() for href in links)
    assert [h for _, h in page.headings][:3] == ["Why is my file this size? — kqbench report", "The answer",
                                                 "In short"]
    assert "putpalette" in html and "All results" in html and "Per image: the files" in html
    md = (sweep_dir / "report.md").read_text(encoding="utf-8")
    for heading in re.findall(r"^## (.*)$", md, flags=re.M):  # the same text
        assert heading.replace("`", "") in [h for _, h in page.headings]


def _browser():
    """(binary, driver) of a Chromium and its chromedriver on this machine, or a reason there is none."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, "selenium is not installed (pip install '.[test]')"
    binary = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    driver = shutil.which("chromedriver") or next((p for p in ("/usr/lib/chromium/chromedriver",)
                                                   if os.access(p, os.X_OK)), None)
    if binary is None or driver is None:
        return None, "no Chromium and chromedriver here (apt-get install chromium chromium-driver)"
    return (binary, driver), ""


@pytest.fixture(scope="module")
def browser():
    found, reason = _browser()
    if found is None:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = found
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look anything up
    profile = tempfile.mkdtemp(prefix="kqbench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_report_html_in_headless_chromium(sweep_dir, browser):
    import json

    from selenium.webdriver.common.by import By

    browser.get((sweep_dir / "report.html").as_uri())
    assert browser.title.startswith("Why is my file this size?")
    # no console error (nor warning) while loading
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    # no request to the network: the page itself and its data: images (the browser's own chrome:// pages aside)
    requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    assert (sweep_dir / "report.html").as_uri() in urls
    assert all(u.startswith(("file:", "data:", "chrome:", "chrome-untrusted:")) for u in urls), urls
    # every image decodes
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 5
    for img in images:
        ok = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
        assert ok, img.get_attribute("alt")
    # the answer block comes first
    first = browser.find_elements(By.CSS_SELECTOR, "main > h1, main h2")[:2]
    assert [e.text for e in first] == ["Why is my file this size? — kqbench report", "The answer"]
    # sort the results table by bytes: the smallest file first, then reversed
    table = pd.read_parquet(sweep_dir / "results.parquet")
    headers = browser.find_elements(By.CSS_SELECTOR, "#results thead th")
    column = [h.text for h in headers].index("bytes")
    headers[column].click()

    def first_row():
        row = browser.find_element(By.CSS_SELECTOR, "#results tbody tr")
        return [td.text for td in row.find_elements(By.TAG_NAME, "td")]

    smallest = table.loc[table["bytes"].idxmin()]
    row = first_row()
    assert int(row[column]) == int(table["bytes"].min())
    assert row[:4] == [smallest["image"], str(smallest["k"]), smallest["quantizer"], smallest["encoding"]]
    headers[column].click()
    assert int(first_row()[column]) == int(table["bytes"].max())
    # filter: only the rows holding every word
    box = browser.find_element(By.ID, "filter")
    box.send_keys("gradient png8_pillow")
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#results tbody tr')).filter(r => r.style.display !== 'none')"
        ".map(r => r.textContent)")
    expected = table[(table["image"] == "gradient") & (table["encoding"] == "png8_pillow")]
    assert len(shown) == len(expected) == int(browser.find_element(By.ID, "shown").text)
    box.clear()
    box.send_keys(" ")  # back to every row
    # a screenshot, saved with the sweep
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(sweep_dir / SCREENSHOT))
    from PIL import Image

    with Image.open(sweep_dir / SCREENSHOT) as im:
        assert im.size[0] >= 1000 and len(im.getcolors(1 << 20) or range(1000)) > 50  # not a blank page
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def many_dir(tmp_path_factory):
    """A report of 60 images (480 files): its results table spans several pages."""
    from test_report_many import many_images_table

    from kqbench.report import render

    sweep = tmp_path_factory.mktemp("many-html")
    table = many_images_table()
    table.to_parquet(sweep / "results.parquet", index=False)
    render(sweep)
    return sweep, table


def test_paginated_results_table_in_headless_chromium(many_dir, browser):
    from selenium.webdriver.common.by import By

    from kqbench.report.html import PAGE_ROWS

    sweep, table = many_dir
    browser.get((sweep / "report.html").as_uri())
    assert not [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    for img in browser.find_elements(By.TAG_NAME, "img"):
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)

    def rows():  # the rows shown, read in one round trip (one WebDriver call per cell took over a minute)
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('#results tbody tr'))"
            ".filter(r => r.getClientRects().length > 0)"
            ".map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText.trim()))")

    pages = -(-len(table) // PAGE_ROWS)
    assert len(rows()) == PAGE_ROWS and browser.find_element(By.ID, "pages").text == str(pages)
    headers = browser.find_elements(By.CSS_SELECTOR, "#results thead th")
    column = [h.text for h in headers].index("bytes")
    headers[column].click()  # sorts every row, not only the page shown
    first = rows()
    assert int(first[0][column]) == int(table["bytes"].min())
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "page").text == "2"
    second = rows()
    assert len(second) == PAGE_ROWS and int(second[0][column]) >= int(first[-1][column])
    box = browser.find_element(By.ID, "filter")
    box.send_keys("img07")  # the filter searches every page, and the shown count says how many
    expected = int(table["image"].str.startswith("img07").sum())
    assert len(rows()) == expected == int(browser.find_element(By.ID, "shown").text)
    assert browser.find_element(By.ID, "page").text == "1"
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

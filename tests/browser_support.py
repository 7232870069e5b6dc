"""Headless Chromium for the dashboard and report tests, through selenium.

Chromium and its chromedriver come from Debian (`.ci/run` installs them); nothing is
downloaded at run time, and a missing browser fails the test rather than skipping it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [p for p in (browser, driver) if not Path(p).exists()]
    assert not missing, (
        f"{missing} not found: install Debian's chromium and chromium-driver (.ci/run does)"
    )
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--window-size=1200,1600",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for checks
    # An explicit driver path: Selenium Manager (which would download one) is never used.
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


def console_errors(chrome: webdriver.Chrome) -> list[dict]:
    """SEVERE entries of the page's console (a CSP violation, a script error), except
    failed requests the test made on purpose."""
    return [
        entry
        for entry in chrome.get_log("browser")
        if entry["level"] == "SEVERE" and entry["source"] != "network"
    ]

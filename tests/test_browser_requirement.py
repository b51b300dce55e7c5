"""Browser tests skip with a reason on a user's machine without chromium, and fail instead in CI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs tests/e2e in a pytest subprocess

ROOT = Path(__file__).parents[1]


def collected_browser_tests() -> int:
    """How many tests pytest collects under tests/e2e (parametrised cases counted one by one)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/e2e"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return sum("::" in line for line in listed.stdout.splitlines())


def run_e2e_without_chromium(**extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "XWIDGETS_REQUIRE_BROWSER")}
    env.update(CHROMIUM="/nonexistent/chromium", **extra)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_skips_with_the_reason_on_a_user_machine():
    result = run_e2e_without_chromium()
    assert result.returncode == 0, result.stdout
    browser_tests = collected_browser_tests()
    assert browser_tests >= 3
    assert f"{browser_tests} skipped" in result.stdout and "chromium was not found" in result.stdout


def test_fails_in_ci():
    result = run_e2e_without_chromium(CI="true")
    assert result.returncode != 0
    assert "browser tests are required here" in result.stdout and f"{collected_browser_tests()} errors" in result.stdout

"""Fixtures for the browser tests; they live in harness.py, which tests import constants from."""
from harness import (  # noqa: F401
    book_dir, book_url, browser, new_page, pytest_runtest_makereport,
)

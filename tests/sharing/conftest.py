"""Fixtures for the sharing tests."""

from __future__ import annotations

import pytest

from kizuna.sharing.agreement import Agreement, load_agreement


@pytest.fixture(scope="session")
def trilateral() -> Agreement:
    return load_agreement("trilateral")


@pytest.fixture(scope="session")
def quadrilateral() -> Agreement:
    return load_agreement("quadrilateral")

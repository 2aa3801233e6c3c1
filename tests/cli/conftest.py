"""The calculator CLIs touch no database: they run once, in the SQLite stage only."""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/cli/" in str(item.fspath):
            item.add_marker(pytest.mark.cli)

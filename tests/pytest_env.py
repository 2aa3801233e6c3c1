"""Loaded first by pytest (``-p tests.pytest_env``): the environment the test settings need.

Tests run in development mode (no TLS redirect on the test client) but with two-factor sign-in
on, as in production; the deploy settings are checked separately by ``check --deploy``.
"""

import os

os.environ.setdefault("KAPSTONE_DEV", "1")
os.environ.setdefault("KAPSTONE_MFA_REQUIRED", "1")
os.environ.setdefault("KAPSTONE_LOG_LEVEL", "CRITICAL")

"""Kapstone: an open clinical platform for ketamine-assisted psychotherapy in addiction care."""

__version__ = "0.1.0"

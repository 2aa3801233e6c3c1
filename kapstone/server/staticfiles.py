"""Static files ready before the first request: ``kapstone serve`` collects them when the
manifest is missing or was made from other sources (an upgrade), so that no page answers 500
for want of ``collectstatic`` (the manifest storage raises on a file it has no entry for)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command

import kapstone

#: Written beside the manifest after collecting: which sources the manifest was made from.
SOURCES_FILE = ".kapstone-static-sources"
IGNORE_PATTERNS = ["CVS", ".*", "*~"]


def sources_fingerprint() -> str:
    """A hash of every source file's name, size and modification time (no file is read)."""
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(IGNORE_PATTERNS):
            stat = Path(storage.path(path)).stat()
            prefix = getattr(storage, "prefix", None) or ""
            entries.append(f"{prefix}/{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    digest = hashlib.sha256(getattr(kapstone, "__version__", "").encode())
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def collect_reason() -> str | None:
    """Why static files must be collected now, or None when the manifest is current (or the
    storage keeps no manifest, as in development)."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    root = Path(settings.STATIC_ROOT)
    if not (root / staticfiles_storage.manifest_name).is_file():
        return "the manifest is missing"
    recorded = root / SOURCES_FILE
    if not recorded.is_file() or recorded.read_text(encoding="utf-8").strip() != sources_fingerprint():
        return "the static sources changed since the manifest was made"
    return None


def ensure_collected() -> str | None:
    """Collects static files when ``collect_reason`` says so; returns the reason (None: nothing done)."""
    reason = collect_reason()
    if reason is None:
        return None
    call_command("collectstatic", interactive=False, verbosity=0)
    (Path(settings.STATIC_ROOT) / SOURCES_FILE).write_text(sources_fingerprint() + "\n", encoding="utf-8")
    return reason

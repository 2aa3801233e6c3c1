"""Which protocols a clinic can use: the shipped library plus the clinic's own clones."""

from __future__ import annotations

import dataclasses

from kapstone.care.models import ProtocolClone
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import Protocol, protocol_from_dict, protocol_library


def protocols_for_clinics(clinic_ids: list[int]) -> list[tuple[Protocol, int | None]]:
    """Every protocol version usable in ``clinic_ids``: (protocol, clinic id or None for the library)."""
    found: list[tuple[Protocol, int | None]] = [(p, None) for p in protocol_library()]
    for clone in ProtocolClone.objects.filter(clinic_id__in=clinic_ids).order_by("slug", "version"):
        found.append((protocol_from_dict(clone.data), clone.clinic_id))
    return found


def protocol_resolve(*, clinic_id: int, slug: str, version: int | None = None) -> Protocol:
    """The protocol ``slug`` (latest version unless ``version``) as seen by ``clinic_id``."""
    candidates = [p for p, _ in protocols_for_clinics([clinic_id]) if p.slug == slug]
    if not candidates:
        raise DomainError("unknown_protocol", f"There is no protocol {slug!r}.", field="protocol")
    if version is None:
        return max(candidates, key=lambda p: p.version)
    for protocol in candidates:
        if protocol.version == version:
            return protocol
    raise DomainError(
        "unknown_protocol_version", f"Protocol {slug!r} has no version {version}.", field="version"
    )


def next_version(*, clinic_id: int, slug: str) -> int:
    return max(p.version for p, _ in protocols_for_clinics([clinic_id]) if p.slug == slug) + 1


def with_version(protocol: Protocol, version: int) -> Protocol:
    return dataclasses.replace(protocol, version=version)

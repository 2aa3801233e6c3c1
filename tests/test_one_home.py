"""One home for each shared rule (docs/architecture.md, "Where each shared rule lives").

Reads the source of every module of the package and fails where a rule that has a home is
written again: a role set spelled out outside ``accounts/access.py``, a private name (``_name``)
of one module used by another, the clinics or memberships of a user looked up outside the
accounts app. Each exception is listed with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kapstone

ROOT = Path(kapstone.__file__).parent

#: Role sets defined outside accounts/access.py, with why they stay for now.
ROLE_SET_EXCEPTIONS = {
    "research/cohorts.py": "the research report's roles; access.py::REPORT_READERS is the same set, "
    "and research/cohorts.py is being reworked for issue 15's suppression and split",
}
#: Lookups of memberships outside the accounts app, with why.
MEMBERSHIP_EXCEPTIONS = {
    "audit/selectors.py": "the audit viewer's declared exception (pyproject.toml): who acted in a clinic",
    "research/services.py": "the disclosure's recipient role (see ROLE_SET_EXCEPTIONS)",
}


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue
        yield relative, ast.parse(path.read_text())


def is_role(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Role"


def test_role_sets_are_defined_once_in_accounts_access():
    found = []
    for relative, tree in modules():
        if relative == "accounts/access.py" or relative in ROLE_SET_EXCEPTIONS:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Set | ast.List | ast.Tuple)
                and node.elts
                and all(map(is_role, node.elts))
            ):
                found.append(f"{relative}:{node.lineno} {ast.unparse(node)}")
    assert not found, f"use a role set of kapstone/accounts/access.py: {found}"


def test_no_module_uses_another_modules_private_names():
    found = []
    for relative, tree in modules():
        imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kapstone"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{relative}: from {node.module} import {alias.name}")
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("kapstone"):
                        imported[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr != "_meta"  # Django's documented model API
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
            ):
                found.append(f"{relative}:{node.lineno} {imported[node.value.id]}.{node.attr}")
    assert not found, f"make these public (a keyword argument where more is needed): {found}"


def test_the_clinics_and_memberships_of_a_user_are_read_in_the_accounts_app():
    found = []
    for relative, tree in modules():
        if relative.startswith("accounts/"):
            continue
        text = ast.unparse(tree)
        if "Clinic.objects.filter(pk__in=clinic_ids_for(" in text:
            found.append(
                f"{relative}: Clinic.objects.filter(pk__in=clinic_ids_for(…)) (accounts/selectors.clinics_of)"
            )
        if (
            "Membership.objects" in text or "memberships__" in text
        ) and relative not in MEMBERSHIP_EXCEPTIONS:
            found.append(f"{relative}: memberships read here (accounts/selectors.py)")
    assert not found, "\n".join(found)

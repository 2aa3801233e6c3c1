"""The Spanish catalogue of the public pages: complete, compiled, and covering the domain's words."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from django.test import Client
from django.utils import translation

from kapstone.domain.prescreen import OTHER_HELP, RULES, crisis_help

CATALOGUE = Path(__file__).resolve().parents[2] / "kapstone" / "locale" / "es" / "LC_MESSAGES"


def test_every_entry_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(CATALOGUE / "django.po"))
    assert len(po) > 100
    assert po.untranslated_entries() == [] and po.fuzzy_entries() == []
    assert po.obsolete_entries() == []


def test_the_compiled_catalogue_matches_the_source():
    """The .mo Django reads is the .po compiled (``msgfmt -o django.mo django.po``)."""
    po = polib.pofile(str(CATALOGUE / "django.po"))
    mo = polib.mofile(str(CATALOGUE / "django.mo"))
    assert {(e.msgid, e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in po if not e.obsolete} == {
        (e.msgid, e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in mo if e.msgid
    }


def test_the_domains_words_for_the_public_page_are_in_the_catalogue():
    sentences = [rule.message for rule in RULES.values()]
    sentences += [OTHER_HELP, *crisis_help(None).lines, *crisis_help("XX-XX").lines]
    with translation.override("es"):
        untranslated = [s for s in sentences if translation.gettext(s) == s]
    assert untranslated == []


@pytest.mark.django_db
def test_the_questions_read_in_spanish():
    response = Client().get("/start/?lang=es")
    body = response.content.decode()
    assert '<html lang="es">' in body
    assert "¿Es la terapia asistida con ketamina adecuada para mí?" in body
    assert "¿Cuántos años tiene?" in body and "How old are you?" not in body
    assert "988" in body  # the crisis line in the footer

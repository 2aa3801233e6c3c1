"""Marking domain sentences for translation without importing Django.

``gettext_noop(text)`` returns ``text`` unchanged. Django's ``makemessages`` (xgettext) collects
every literal passed to a function of that name, so a sentence the domain gives to a public page
(the pre-screen's reasons, the crisis lines) gets its place in the translation catalogue, and the
page translates it when it shows it (``gettext(reason.message)``). The API and the CLI keep the
English sentence.
"""

from __future__ import annotations


def gettext_noop(text: str) -> str:
    return text

"""The public pre-screen at /start/: the questions, an honest result, the matching clinics and a
request to be contacted. No sign-in, no cookie but the CSRF one, nothing stored before a referral
is submitted (the answers travel in the page itself), in English and Spanish.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.accounts.access import public
from kapstone.domain.errors import DomainError
from kapstone.domain.prescreen import NOT_SUITABLE, OTHER_HELP, URGENT_HELP, crisis_help
from kapstone.domain.referrals import DEFAULT_LANGUAGE
from kapstone.forms import add_domain_error
from kapstone.portal.forms import LANGUAGE_CHOICES, ContactForm, PrescreenForm
from kapstone.portal.ratelimit import RateLimited
from kapstone.portal.selectors import public_clinic_contact
from kapstone.portal.services import prescreen_outcome, prescreen_run, referral_submit

LANGUAGES = {code for code, _label in LANGUAGE_CHOICES}

RESULT_HEADINGS = {
    "urgent_help": gettext_noop("Please get help now"),
    "not_suitable": gettext_noop("Ketamine-assisted therapy is not the right treatment for you"),
    "needs_review": gettext_noop("It may suit you, but a clinician needs to look first"),
    "may_be_suitable": gettext_noop("Ketamine-assisted therapy may suit you"),
}
RESULT_TEXT = {
    "urgent_help": gettext_noop(
        "You can still ask a clinic to contact you below, but please do not wait for them."
    ),
    "not_suitable": gettext_noop("Here is why, and what else can help."),
    "needs_review": gettext_noop(
        "Nothing you told us rules it out, but some answers need a clinician's care before any "
        "treatment. The clinics below can talk it through with you."
    ),
    "may_be_suitable": gettext_noop(
        "Nothing you told us rules it out. This is not a diagnosis: a clinician decides after a "
        "full assessment."
    ),
}
SUBSTANCE_WORDS = {
    "alcohol": gettext_noop("alcohol use"),
    "opioids": gettext_noop("opioid use"),
    "cocaine": gettext_noop("cocaine use"),
    "methamphetamine": gettext_noop("methamphetamine use"),
    "cannabis": gettext_noop("cannabis use"),
    "other": gettext_noop("other substance use"),
}


LANGUAGE_WORDS = {"en": gettext_noop("English"), "es": gettext_noop("Spanish")}


def _language(request: HttpRequest) -> str:
    """The page's language: the switch pressed, else the form's, else ?lang=, else English."""
    for candidate in (request.POST.get("switch_lang"), request.POST.get("lang"), request.GET.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def _address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _kept(request: HttpRequest, form_class: type) -> dict[str, Any]:
    """What the person entered, as starting values (a language switch shows no errors)."""
    initial: dict[str, Any] = {}
    for name, field in form_class.base_fields.items():
        if name in request.POST:
            values = request.POST.getlist(name)
            initial[name] = values if getattr(field.widget, "allow_multiple_selected", False) else values[-1]
    return initial


def _join(words: list[str]) -> str:
    return (
        words[0]
        if len(words) == 1
        else _("%(items)s and %(last)s") % {"items": ", ".join(words[:-1]), "last": words[-1]}
    )


def _why(match: Any, answers: Any) -> list[str]:
    """Why a clinic matched, in the page's language (the API gives the English words)."""
    why = [
        _("offers ketamine-assisted therapy for %(what)s")
        % {"what": _join([_(SUBSTANCE_WORDS[s]) for s in match.covered])}
    ]
    if answers.region is not None:
        why.append(_("serves %(region)s") % {"region": answers.region})
    if answers.language is not None:
        name = LANGUAGE_WORDS.get(answers.language)
        why.append(_("speaks %(language)s") % {"language": _(name) if name else answers.language})
    if answers.modality == "in_person":
        why.append(_("sees patients in person"))
    return why


def _result_context(outcome: Any, contact_form: ContactForm | None) -> dict[str, Any]:
    assessment = outcome.assessment
    matches = [{"match": m, "why": _why(m, assessment.answers)} for m in outcome.matches]
    return {
        "outcome": outcome,
        "result": assessment.result,
        "heading": _(RESULT_HEADINGS[assessment.result]),
        "text": _(RESULT_TEXT[assessment.result]),
        "reasons": [
            {"code": r.code, "severity": r.severity, "message": _(r.message)} for r in assessment.reasons
        ],
        "crisis_lines": [_(line) for line in crisis_help(assessment.answers.region).lines]
        if assessment.crisis
        else [],
        "other_help": _(OTHER_HELP) if assessment.result == NOT_SUITABLE else "",
        "matches": matches,
        "contact_form": contact_form,
        "show_contact": bool(matches) and assessment.result != NOT_SUITABLE,
        "urgent": assessment.result == URGENT_HELP,
    }


def _contact_form(outcome: Any, data: Any = None, initial: dict[str, Any] | None = None) -> ContactForm:
    choices = [(m.clinic_id, m.clinic_name) for m in outcome.matches]
    answers_json = json.dumps(outcome.assessment.answers.as_dict())
    start = {"answers": answers_json, **(initial or {})}
    if len(choices) == 1:
        start.setdefault("clinic_id", choices[0][0])
    form = ContactForm(data, clinic_choices=choices, initial=start)
    if data is not None:
        # The answers are the ones this page was built from, whatever was posted.
        form.data = form.data.copy()
        form.data["answers"] = answers_json
    return form


def _translated(error: DomainError) -> DomainError:
    """The refusal in the page's language (the code and field stay)."""
    return DomainError(error.code, _(error.message), field=error.field)


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _rate_limited(request: HttpRequest, lang: str) -> HttpResponse:
    return _render(request, "portal/public/limited.html", {"lang": lang}, status=429)


@public
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    """The questions (GET), then the result page (POST). Nothing is stored."""
    lang = _language(request)
    with translation.override(lang):
        if request.method == "GET" or "switch_lang" in request.POST:
            initial = _kept(request, PrescreenForm) if request.method == "POST" else {}
            initial.setdefault("language", lang)
            form = PrescreenForm(initial=initial)
            return _render(request, "portal/public/start.html", {"form": form, "lang": lang})
        form = PrescreenForm(request.POST)
        if form.is_valid():
            try:
                outcome = prescreen_run(answers=form.answers(), address=_address(request))
            except RateLimited:
                return _rate_limited(request, lang)
            except DomainError as error:
                add_domain_error(form, _translated(error))
            else:
                context = _result_context(outcome, _contact_form(outcome))
                return _render(request, "portal/public/result.html", {**context, "lang": lang})
        return _render(request, "portal/public/start.html", {"form": form, "lang": lang}, status=400)


@public
@require_http_methods(["POST"])
def contact(request: HttpRequest) -> HttpResponse:
    """Ask a matched clinic to make contact: the referral is stored only here."""
    lang = _language(request)
    with translation.override(lang):
        try:
            answers = json.loads(request.POST.get("answers", ""))
            outcome = prescreen_outcome(answers=answers)
        except (ValueError, DomainError):
            # The answers did not come from our own result page: start again.
            form = PrescreenForm(initial={"language": lang})
            return _render(
                request, "portal/public/start.html", {"form": form, "lang": lang, "restart": True}, status=400
            )
        if "switch_lang" in request.POST:
            form = _contact_form(outcome, initial=_kept(request, ContactForm))
            return _render(
                request, "portal/public/result.html", {**_result_context(outcome, form), "lang": lang}
            )
        form = _contact_form(outcome, data=request.POST)
        if form.is_valid():
            if form.cleaned_data["website"]:
                # Filled by a machine, not a person: say thanks, keep nothing.
                return _render(request, "portal/public/thanks.html", {"lang": lang, "referral": None})
            try:
                referral = referral_submit(
                    clinic_id=form.cleaned_data["clinic_id"],
                    answers=answers,
                    contact={k: form.cleaned_data[k] for k in ("name", "email", "phone", "preferred_time")},
                    consent_to_contact=form.cleaned_data["consent_to_contact"],
                    language=lang,
                    address=_address(request),
                )
            except RateLimited:
                return _rate_limited(request, lang)
            except DomainError as error:
                add_domain_error(form, _translated(error))
            else:
                profile = public_clinic_contact(clinic_id=referral.clinic_id)
                context = {"lang": lang, "referral": referral, "profile": profile, "crisis": referral.crisis}
                return _render(request, "portal/public/thanks.html", context, status=201)
        context = {**_result_context(outcome, form), "lang": lang, "focus": form.first_error_id()}
        return _render(request, "portal/public/result.html", context, status=400)


@public
@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    lang = _language(request)
    with translation.override(lang):
        return _render(request, "portal/public/privacy.html", {"lang": lang})

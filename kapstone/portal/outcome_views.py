"""The patient's own outcome pages: the questionnaires due and one questionnaire at a time, the
use calendar and their progress.

Every page is the signed-in patient's (``require_patient``); nothing is looked up by an id from
the request. Pages are in the account's language (English or Spanish; ``?lang=`` for one page),
with the questionnaires' items in English (see docs/clinical-rules.md, "Patient-entered
outcomes").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.domain import instruments
from kapstone.domain.errors import DomainError
from kapstone.domain.words import gettext_noop
from kapstone.forms import parse_date
from kapstone.portal import outcome_charts, outcome_selectors, outcome_services
from kapstone.portal.access import require_patient
from kapstone.portal.outcome_forms import PatientCalendarForm, PatientQuestionnaireForm

LANGUAGES = {code for code, _name in settings.LANGUAGES}
#: The session key of the response just submitted, for the page that follows (no id in URLs).
LAST_RESPONSE = "portal_last_response"
DAY, WEEK = "day", "week"

#: Refusals a patient can meet on these pages, in words (the code stays in the API and the audit).
REFUSALS = {
    "day_out_of_range": gettext_noop(
        "This day cannot be filled in here: it is in the future or too far back."
    ),
    "day_recorded_by_clinic": gettext_noop(
        "Your clinic has already recorded this day. If it is wrong, please tell them."
    ),
    "sex_required": gettext_noop("Your clinic fills in this questionnaire with you."),
    "not_a_patient_instrument": gettext_noop("Your clinic fills in this questionnaire with you."),
}
FALLBACK_REFUSAL = gettext_noop("Please check your answers.")


def _language(request: HttpRequest) -> str:
    for candidate in (request.POST.get("lang"), request.GET.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    chosen = request.patient_account.language
    return chosen if chosen in LANGUAGES else settings.LANGUAGE_CODE


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], lang: str, status: int = 200
) -> HttpResponse:
    patient = request.patient_account.patient
    context = {
        "patient": patient,
        "clinic": patient.clinic,
        "lang": lang,
        "LANGUAGE_CODE": lang,
        "explicit_lang": lang if (request.GET.get("lang") or request.POST.get("lang")) in LANGUAGES else "",
        **context,
    }
    with translation.override(lang):
        return render(request, template, context, status=status)


def _refusal(error: DomainError) -> DomainError:
    """The refusal in the page's language (the code and field stay)."""
    return DomainError(error.code, _(REFUSALS.get(error.code, FALLBACK_REFUSAL)), field=error.field)


def _with_lang(url: str, request: HttpRequest) -> str:
    lang = request.POST.get("lang") or request.GET.get("lang")
    if lang not in LANGUAGES:
        return url
    return f"{url}{'&' if '?' in url else '?'}lang={lang}"


# --- Questionnaires ------------------------------------------------------------------------------


@require_patient
@require_GET
def questionnaires(request: HttpRequest) -> HttpResponse:
    lang = _language(request)
    with translation.override(lang):
        listing = outcome_selectors.questionnaire_list_for_patient(account=request.patient_account)
        others = [(code, outcome_selectors.instrument_name(code)) for code in listing.others]
    return _render(
        request, "portal/patient/questionnaires.html", {"listing": listing, "others": others}, lang
    )


@require_patient
@require_http_methods(["GET", "POST"])
def questionnaire(request: HttpRequest, instrument: str) -> HttpResponse:
    lang = _language(request)
    account = request.patient_account
    with translation.override(lang):
        found = outcome_selectors.questionnaire_for_patient(account=account, instrument=instrument)
        if found is None:
            raise Http404("questionnaire")
        definition, due = found
        form = PatientQuestionnaireForm(request.POST or None, definition=definition)
        if request.method == "POST" and form.is_valid():
            try:
                response = outcome_services.patient_questionnaire_submit(
                    account=account,
                    instrument=definition.code,
                    answers=form.answers(),
                    alerts_link=request.build_absolute_uri(reverse("outcomes:flags")),
                )
            except DomainError as error:
                form.add_refusal(_refusal(error))
            else:
                request.session[LAST_RESPONSE] = response.pk
                return redirect(
                    _with_lang(reverse("portal:questionnaire_done", args=[definition.code]), request)
                )
        name = outcome_selectors.instrument_name(definition.code)
    context = {"definition": definition, "due": due, "form": form, "name": name}
    return _render(
        request, "portal/patient/questionnaire.html", context, lang, status=400 if form.errors else 200
    )


@require_patient
@require_GET
def questionnaire_done(request: HttpRequest, instrument: str) -> HttpResponse:
    """After the answers: crisis help first when they raised the self-harm flag, then the score."""
    lang = _language(request)
    account = request.patient_account
    response = outcome_selectors.response_for_patient(
        account=account, response_id=request.session.get(LAST_RESPONSE)
    )
    if response is None or response.instrument != instrument:
        return redirect(_with_lang(reverse("portal:questionnaires"), request))
    with translation.override(lang):
        crisis = outcome_services.crisis_for(response)
        context = {
            "response": response,
            "name": outcome_selectors.instrument_name(response.instrument),
            "band": outcome_selectors.band_words(response.instrument, response.band),
            "total_max": instruments.get_instrument(response.instrument).total_max,
            "crisis_lines": [_(line) for line in crisis.lines] if crisis else [],
            "due": outcome_selectors.due_for_patient(account.patient, response.administered_on),
        }
    return _render(request, "portal/patient/questionnaire_done.html", context, lang)


# --- Use calendar --------------------------------------------------------------------------------


@require_patient
@require_http_methods(["GET", "POST"])
def calendar(request: HttpRequest) -> HttpResponse:
    lang = _language(request)
    account = request.patient_account
    params = request.POST if request.method == "POST" else request.GET
    substances = outcome_selectors.substances_for_patient(account.patient)
    substance = params.get("substance") if params.get("substance") in substances else None
    substance = substance or (substances[0] if substances else None)
    mode = DAY if params.get("mode") == DAY else WEEK
    length = 1 if mode == DAY else outcome_selectors.WEEK_DAYS
    start = parse_date(params.get("start"))
    with translation.override(lang):
        if substance is None:
            return _render(request, "portal/patient/calendar.html", {"calendar": None}, lang)
        block = outcome_selectors.calendar_for_patient(
            account=account, substance=substance, start=start, length=length
        )
        form = PatientCalendarForm(request.POST or None, substance=substance, days=block.days)
        if request.method == "POST" and form.is_valid():
            try:
                entry = outcome_services.patient_use_days_submit(
                    account=account, substance=substance, days=form.entries()
                )
            except DomainError as error:
                form.add_refusal(_refusal(error))
            else:
                messages.success(request, _saved(entry.stored, entry.not_remembered))
                url = f"{reverse('portal:calendar')}?substance={substance}&mode={mode}"
                if block.later is not None:
                    url += f"&start={block.later.isoformat()}"
                return redirect(_with_lang(url, request))
        context = {
            "calendar": block,
            "form": form,
            "rows": form.rows(),
            "clinic_days": [d for d in block.days if d.by_clinic],
            "substance_name": outcome_selectors.substance_name(substance),
            "substances": [(s, outcome_selectors.substance_name(s)) for s in substances],
            "mode": mode,
            "alcohol": form.alcohol,
        }
    return _render(request, "portal/patient/calendar.html", context, lang, status=400 if form.errors else 200)


def _saved(stored: int, not_remembered: int) -> str:
    if stored == 0 and not_remembered:
        return _("Saved. The days you do not remember are left empty.")
    return _("Saved. Thank you.")


# --- Progress ------------------------------------------------------------------------------------


@require_patient
@require_GET
def progress(request: HttpRequest) -> HttpResponse:
    lang = _language(request)
    account = request.patient_account
    with translation.override(lang):
        data = outcome_selectors.progress_for_patient(account=account)
        charts = outcome_charts.progress_charts(data, patient=account.patient, lang=lang)
    return _render(request, "portal/patient/progress.html", {"charts": charts}, lang)

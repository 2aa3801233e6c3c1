"""How a patient prepares for a session: the instructions the portal shows and the API returns.

Built from the protocol the course runs on (its day-of rules) and the clinic (its name and its
public contact line), never typed by hand per patient, so the home page, the session list and
``GET /api/v1/portal/me`` say the same thing. A ketamine (dosing) session gets the full list; a
therapy session (preparation, integration, follow-up) needs nothing special.

Each instruction is an English sentence with ``%(name)s`` placeholders, marked for translation
with :func:`~kapstone.domain.words.gettext_noop`: a page shows ``gettext(template) % values``,
the API the English :attr:`Instruction.text`.

Sources (docs/clinical-rules.md, "Preparation instructions"):

* No food and clear fluids — the protocol's ``day_of.fasting_min_hours`` (default 6 h) and
  ``day_of.clear_fluids_min_hours`` (default 2 h). Defaults from the American Society of
  Anesthesiologists' Practice Guidelines for Preoperative Fasting (Anesthesiology
  2017;126(3):376-393): a light meal at least 6 h, clear liquids up to 2 h before procedures that
  need procedural sedation; the examples of clear fluids are the guideline's (water, fruit juice
  without pulp, clear tea, black coffee). The Ketalar label gives nil-by-mouth guidance without
  numbers (clinical.md §8). The guideline's numbers were read from a summary, not the full text.
* No alcohol or drugs — the protocol's own day-of checks (:mod:`kapstone.domain.sessions`): a
  breath alcohol above zero or a missing urine drug screen stops the session.
* An escort home, no driving or machinery until the next day after a night's sleep — the
  Spravato (esketamine) label: no driving or machinery until the next day after restful sleep,
  transport must be arranged (clinical.md §3.2); for racemic ketamine (IV/IM, the Ketalar label,
  clinical.md §8) no driving, hazardous machinery or hazardous activity for 24 hours or more
  (:data:`NO_DRIVING_MIN_HOURS`; the 24-hour wording was checked against a European ketamine
  label, not the US Ketalar text: unverified). Kapstone says both: the next day after sleep, and
  at least 24 hours.
* What to bring — a list of the medicines taken (the Spravato REMS monitoring form asks about
  benzodiazepines, other sedatives, stimulants and MAOIs at each session, clinical.md §8) and the
  escort's name and number (the day-of ``escort`` check). Chosen wording, no published list.
* Whom to call — the clinic's public contact line (its service profile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from kapstone.domain.protocols import DOSING, DayOfRules
from kapstone.domain.words import gettext_noop

#: Hours after a ketamine session before driving (Ketalar label: "24 hours or more"; see above).
NO_DRIVING_MIN_HOURS = 24

SOURCE_FASTING = (
    "Protocol parameter day_of.fasting_min_hours; default from ASA Practice Guidelines for "
    "Preoperative Fasting, Anesthesiology 2017;126(3):376-393 (light meal ≥ 6 h)"
)
SOURCE_CLEAR_FLUIDS = (
    "Protocol parameter day_of.clear_fluids_min_hours; default from ASA Practice Guidelines for "
    "Preoperative Fasting, Anesthesiology 2017;126(3):376-393 (clear liquids up to 2 h before)"
)
SOURCE_SUBSTANCES = "The protocol's day-of checks (breath alcohol, urine drug screen)"
SOURCE_ESCORT = "Spravato label: transport must be arranged (clinical.md §3.2); the day-of escort check"
SOURCE_DRIVING = (
    "Spravato label: no driving or machinery until the next day after restful sleep (clinical.md §3.2); "
    "Ketalar label: not for 24 hours or more (clinical.md §8)"
)
SOURCE_BRING = (
    "Spravato REMS monitoring form: other medicines at each session (clinical.md §8); chosen wording"
)
SOURCE_CONTACT = "The clinic's public contact line (service profile)"
SOURCE_NOTHING = "Therapy sessions involve no medicine: nothing to prepare"


@dataclass(frozen=True)
class Instruction:
    """One thing to do before (or after) a session.

    ``code`` is stable (``no_food``, ``clear_fluids``, ``no_alcohol_or_drugs``, ``escort``,
    ``no_driving``, ``bring``, ``contact``, ``nothing_special``); ``template`` is the English
    sentence with ``%(name)s`` placeholders filled from ``values``; ``source`` says where the
    rule comes from.
    """

    code: str
    template: str
    values: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def text(self) -> str:
        """The English sentence."""
        return self.template % dict(self.values)


def _hours(value: Decimal) -> str:
    """6 → "6", 6.50 → "6.5" (no trailing zeros, never an exponent)."""
    text = format(value.normalize(), "f")
    return text


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def _before(starts_at: datetime | None, hours: Decimal, template_at: str, template_day_before: str,
            template_no_time: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:  # fmt: skip
    """The sentence for a cut-off ``hours`` before ``starts_at``: at a clock time, at a clock time
    on the day before, or (no time booked yet) only as hours before."""
    if starts_at is None:
        return template_no_time, values
    cutoff = starts_at - timedelta(seconds=int(hours * 3600))
    values = {**values, "time": _clock(cutoff)}
    if cutoff.date() < starts_at.date():
        return template_day_before, values
    return template_at, values


def preparation_instructions(
    *,
    kind: str,
    scheduled_date: date,
    start_time: time | None,
    day_of: DayOfRules,
    clinic_name: str,
    contact_line: str = "",
) -> tuple[Instruction, ...]:
    """The preparation instructions for one session, in the order a patient needs them.

    ``scheduled_date`` and ``start_time`` are the session's local date and time at the clinic
    (``start_time`` None: not booked to the minute yet, so cut-offs are given in hours only).
    ``day_of`` is the protocol's day-of rules of the course the session belongs to.

    Guarantees: a dosing session always gets, in this order, ``no_food`` (omitted only when the
    protocol asks no fast), ``clear_fluids``, ``no_alcohol_or_drugs`` (when the protocol checks
    breath alcohol or a urine drug screen), ``escort``, ``no_driving``, ``bring`` and
    ``contact``; clear fluids never stop before food does. Any other kind gets
    ``nothing_special`` and ``contact``. Pure: the same input gives the same output.
    """
    contact = (
        Instruction(
            "contact",
            gettext_noop("Questions, or you cannot come? Call %(line)s."),
            {"line": contact_line.strip()},
            SOURCE_CONTACT,
        )
        if contact_line.strip()
        else Instruction(
            "contact",
            gettext_noop("Questions, or you cannot come? Call %(clinic)s."),
            {"clinic": clinic_name},
            SOURCE_CONTACT,
        )
    )
    if kind != DOSING:
        return (
            Instruction(
                "nothing_special",
                gettext_noop("No special preparation is needed: eat and drink as usual."),
                {},
                SOURCE_NOTHING,
            ),
            contact,
        )
    starts_at = datetime.combine(scheduled_date, start_time) if start_time is not None else None
    instructions: list[Instruction] = []
    fasting = day_of.fasting_min_hours
    # Clear fluids stop no earlier than food does (a clinic's clone may set a short fast).
    fluids = min(day_of.clear_fluids_min_hours, fasting)
    if fasting > 0:
        template, values = _before(
            starts_at,
            fasting,
            gettext_noop(
                "Do not eat anything for %(hours)s hours before your session: no food after %(time)s."
            ),
            gettext_noop(
                "Do not eat anything for %(hours)s hours before your session: no food after %(time)s "
                "on the day before."
            ),
            gettext_noop("Do not eat anything for %(hours)s hours before your session."),
            {"hours": _hours(fasting)},
        )
        instructions.append(Instruction("no_food", template, values, SOURCE_FASTING))
    if fluids > 0:
        template, values = _before(
            starts_at,
            fluids,
            gettext_noop(
                "You may drink clear fluids (water, fruit juice without pulp, clear tea, black coffee) "
                "until %(hours)s hours before your session: until %(time)s. After that, nothing to drink."
            ),
            gettext_noop(
                "You may drink clear fluids (water, fruit juice without pulp, clear tea, black coffee) "
                "until %(hours)s hours before your session: until %(time)s on the day before. After "
                "that, nothing to drink."
            ),
            gettext_noop(
                "You may drink clear fluids (water, fruit juice without pulp, clear tea, black coffee) "
                "until %(hours)s hours before your session. After that, nothing to drink."
            ),
            {"hours": _hours(fluids)},
        )
    else:
        template, values = (
            gettext_noop(
                "You may drink clear fluids (water, fruit juice without pulp, clear tea, black coffee) "
                "until your session."
            ),
            {},
        )
    instructions.append(Instruction("clear_fluids", template, values, SOURCE_CLEAR_FLUIDS))
    checks = {rule.check for rule in day_of.checks}
    if {"breath_alcohol", "urine_drug_screen"} <= checks:
        substances = gettext_noop(
            "Do not drink alcohol or use other drugs before your session. The clinic checks your "
            "breath for alcohol and your urine for drugs on the day; the session cannot go ahead otherwise."
        )
    elif "breath_alcohol" in checks:
        substances = gettext_noop(
            "Do not drink alcohol before your session. The clinic checks your breath for alcohol on "
            "the day; the session cannot go ahead otherwise."
        )
    elif "urine_drug_screen" in checks:
        substances = gettext_noop(
            "Do not use drugs other than your usual medicines before your session. The clinic checks "
            "your urine on the day."
        )
    else:
        substances = ""
    if substances:
        instructions.append(Instruction("no_alcohol_or_drugs", substances, {}, SOURCE_SUBSTANCES))
    instructions += [
        Instruction(
            "escort",
            gettext_noop(
                "Arrange for an adult to take you home after the session. You may not leave on your "
                "own or drive yourself."
            ),
            {},
            SOURCE_ESCORT,
        ),
        Instruction(
            "no_driving",
            gettext_noop(
                "Do not drive, ride a bike or use machinery until the next day, after a night's sleep, "
                "and not for at least %(hours)s hours after your session."
            ),
            {"hours": str(NO_DRIVING_MIN_HOURS)},
            SOURCE_DRIVING,
        ),
        Instruction(
            "bring",
            gettext_noop(
                "Bring a list of the medicines you take (and anything you took today), and the name "
                "and phone number of the person taking you home. Wear comfortable clothes."
            ),
            {},
            SOURCE_BRING,
        ),
        contact,
    ]
    return tuple(instructions)

"""Questionnaire definitions and scoring: AUDIT, AUDIT-C, PACS, PHQ-9, GAD-7, DAST-10, CADSS.

Each instrument is an :class:`InstrumentDefinition` carrying its items (text, answer options),
its total range, bands, flags, LOINC codes and where the wording came from. Forms render from
:func:`instrument_definitions`; :func:`score_instrument` is the one scoring entry point, used by
the web form, the API and ``kapstone score``.

Item wording policy: AUDIT (WHO), PHQ-9 and GAD-7 (Pfizer, "no permission required") are free to
use, and their well-known wording is reproduced here. PACS, DAST-10 and CADSS carry neutral item
labels (``"DAST-10 item 3"``) plus a note, because the reference gives no item text for them
(PACS: only the item topics and item 1's anchors; DAST-10 and CADSS: none) and we do not
reproduce wording we cannot check. ``InstrumentDefinition.item_text_source`` says which applies.

Source: /work/shared/reference/clinical.md §4.1–4.5 (scoring), §3.6 (CADSS), §4.8 (LOINC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kapstone.domain.errors import DomainError
from kapstone.domain.words import gettext_noop

SEXES = ("male", "female")

#: The flag of PHQ-9 item 9 above 0 (thoughts of death or self-harm): an open alert for the
#: clinicians, and, for a patient answering from home, how to get help now before anything else.
SELF_HARM_FLAG = "self-harm-risk"

#: The instruments a patient may fill in themselves in the portal. Their wording is free to
#: reproduce (AUDIT and AUDIT-C: WHO; PHQ-9 and GAD-7: Pfizer, no permission required; PACS: free
#: to use, PhenX protocol 511702) and each is a self-report questionnaire. DAST-10 is excluded
#: (copyrighted wording, Skinner; we hold neutral labels only) and so is the CADSS (a clinician
#: rates it during a session). See docs/clinical-rules.md, "Patient-entered outcomes".
SELF_REPORT_INSTRUMENTS: tuple[str, ...] = ("phq-9", "gad-7", "audit", "audit-c", "pacs")


@dataclass(frozen=True)
class AnswerOption:
    """One allowed answer: the value stored and scored, and its label on the form."""

    value: int
    label: str


@dataclass(frozen=True)
class Item:
    """One question. ``reverse_scored`` items score ``max_value - answer`` (DAST-10 item 3)."""

    number: int
    text: str
    options: tuple[AnswerOption, ...]
    reverse_scored: bool = False

    @property
    def allowed_values(self) -> tuple[int, ...]:
        return tuple(option.value for option in self.options)


@dataclass(frozen=True)
class Band:
    """A named range of the total, inclusive at both ends."""

    code: str
    label: str
    min_total: int
    max_total: int


@dataclass(frozen=True)
class FlagRule:
    """A flag raised when one item's answer is above ``above`` (e.g. PHQ-9 item 9 > 0)."""

    code: str
    item_number: int
    above: int
    description: str
    alerts_clinicians: bool
    source: str


@dataclass(frozen=True)
class InstrumentDefinition:
    """Everything a form, the scorer and the FHIR mapping need about one questionnaire.

    ``bands`` applies to everyone; ``bands_by_sex`` (AUDIT-C) replaces it and makes ``sex``
    mandatory when scoring. ``loinc_note`` says when a code is unverified or often confused.
    """

    code: str
    name: str
    scoring_version: str
    form_version: str
    instructions: str
    items: tuple[Item, ...]
    total_min: int
    total_max: int
    bands: tuple[Band, ...]
    bands_by_sex: tuple[tuple[str, tuple[Band, ...]], ...]
    flag_rules: tuple[FlagRule, ...]
    loinc_panel: str | None
    loinc_total: str | None
    loinc_note: str
    item_text_source: str
    source: str

    @property
    def requires_sex(self) -> bool:
        return bool(self.bands_by_sex)

    @property
    def item_count(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class InstrumentScore:
    """A scored response. ``item_scores`` are after reverse scoring, in item order."""

    instrument: str
    total: int
    band: str | None
    flags: tuple[str, ...]
    scoring_version: str
    item_scores: tuple[int, ...] = ()


# --- answer scales -------------------------------------------------------------------------------

_AUDIT_FREQUENCY = (
    AnswerOption(0, "Never"),
    AnswerOption(1, "Less than monthly"),
    AnswerOption(2, "Monthly"),
    AnswerOption(3, "Weekly"),
    AnswerOption(4, "Daily or almost daily"),
)
_AUDIT_INJURY = (
    AnswerOption(0, "No"),
    AnswerOption(2, "Yes, but not in the last year"),
    AnswerOption(4, "Yes, during the last year"),
)
_AUDIT_ITEMS = (
    Item(
        1,
        "How often do you have a drink containing alcohol?",
        (
            AnswerOption(0, "Never"),
            AnswerOption(1, "Monthly or less"),
            AnswerOption(2, "2 to 4 times a month"),
            AnswerOption(3, "2 to 3 times a week"),
            AnswerOption(4, "4 or more times a week"),
        ),
    ),
    Item(
        2,
        "How many drinks containing alcohol do you have on a typical day when you are drinking?",
        (
            AnswerOption(0, "1 or 2"),
            AnswerOption(1, "3 or 4"),
            AnswerOption(2, "5 or 6"),
            AnswerOption(3, "7, 8 or 9"),
            AnswerOption(4, "10 or more"),
        ),
    ),
    Item(3, "How often do you have six or more drinks on one occasion?", _AUDIT_FREQUENCY),
    Item(
        4,
        "How often during the last year have you found that you were not able to stop drinking "
        "once you had started?",
        _AUDIT_FREQUENCY,
    ),
    Item(
        5,
        "How often during the last year have you failed to do what was normally expected from you "
        "because of drinking?",
        _AUDIT_FREQUENCY,
    ),
    Item(
        6,
        "How often during the last year have you needed a first drink in the morning to get "
        "yourself going after a heavy drinking session?",
        _AUDIT_FREQUENCY,
    ),
    Item(
        7,
        "How often during the last year have you had a feeling of guilt or remorse after drinking?",
        _AUDIT_FREQUENCY,
    ),
    Item(
        8,
        "How often during the last year have you been unable to remember what happened the night "
        "before because you had been drinking?",
        _AUDIT_FREQUENCY,
    ),
    Item(9, "Have you or someone else been injured as a result of your drinking?", _AUDIT_INJURY),
    Item(
        10,
        "Has a relative or friend or a doctor or another health worker been concerned about your "
        "drinking or suggested you cut down?",
        _AUDIT_INJURY,
    ),
)

# PHQ-9 and GAD-7 share the response scale; clinical.md §4.4 gives it.
_FREQUENCY_TWO_WEEKS = (
    AnswerOption(0, "Not at all"),
    AnswerOption(1, "Several days"),
    AnswerOption(2, "More than half the days"),
    AnswerOption(3, "Nearly every day"),
)
_PHQ9_TEXTS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
    "fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
_GAD7_TEXTS = (
    "Feeling nervous, anxious or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid as if something awful might happen",
)

# PACS: item topics and item 1's anchors are in clinical.md §4.3; the other anchors are not.
_PACS_TOPICS = (
    "Frequency of craving (thoughts about drinking) during the past week",
    "Peak intensity of craving during the past week",
    "Duration of craving during the past week",
    "Difficulty resisting drinking during the past week",
    "Overall craving for alcohol during the past week",
)
_PACS_ITEM1_OPTIONS = (
    AnswerOption(0, "Never"),
    AnswerOption(1, "1–2 times in the past week"),
    AnswerOption(2, "3–4 times in the past week"),
    AnswerOption(3, "5–10 times in the past week"),
    AnswerOption(4, "11–20 times in the past week"),
    AnswerOption(5, "20–40 times in the past week"),
    AnswerOption(6, "More than 40 times in the past week"),
)
_PACS_NEUTRAL_OPTIONS = tuple(
    AnswerOption(value, {0: "0 (lowest)", 6: "6 (highest)"}.get(value, str(value))) for value in range(7)
)

_YES_NO = (AnswerOption(0, "No"), AnswerOption(1, "Yes"))

# CADSS anchors: clinical.md §3.6 marks them "(from memory, unverified)".
_CADSS_OPTIONS = (
    AnswerOption(0, "Not at all"),
    AnswerOption(1, "Slightly"),
    AnswerOption(2, "Moderately"),
    AnswerOption(3, "Considerably"),
    AnswerOption(4, "Extremely"),
)


def _items(texts: Sequence[str], options: tuple[AnswerOption, ...]) -> tuple[Item, ...]:
    return tuple(Item(number, text, options) for number, text in enumerate(texts, start=1))


def _bands(*spec: tuple[str, str, int, int]) -> tuple[Band, ...]:
    return tuple(Band(code, label, low, high) for code, label, low, high in spec)


_AUDIT_SOURCE = "Babor TF, Higgins-Biddle JC, Saunders JB, Monteiro MG. The AUDIT manual, 2nd ed. WHO 2001 (WHO/MSD/MSB/01.6a)"
_LOINC_SWAP_WARNING = (
    "AUDIT 75624-7 and AUDIT-C 75626-2 are often swapped in public code; the pairing used here "
    "is reported as confirmed at loinc.org but was not checked there by us. Check at loinc.org "
    "before exchanging data."
)

_DEFINITIONS: tuple[InstrumentDefinition, ...] = (
    InstrumentDefinition(
        code="audit",
        name="Alcohol Use Disorders Identification Test (AUDIT)",
        scoring_version="audit@1",
        form_version="WHO AUDIT, 10 items (2001 manual)",
        instructions="Answer about your alcohol use.",
        items=_AUDIT_ITEMS,
        total_min=0,
        total_max=40,
        bands=_bands(
            ("low-risk", gettext_noop("Low risk (zone I)"), 0, 7),
            ("hazardous", gettext_noop("Hazardous (zone II)"), 8, 15),
            ("harmful", gettext_noop("Harmful (zone III)"), 16, 19),
            ("possible-dependence", gettext_noop("Possible dependence (zone IV)"), 20, 40),
        ),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel="72110-0",
        loinc_total="75624-7",
        loinc_note=_LOINC_SWAP_WARNING,
        item_text_source="WHO AUDIT wording (free to use; well-known public wording, not in the reference)",
        source=_AUDIT_SOURCE + "; items 9–10 scored 0/2/4 per issue 6 (reference: from memory, unverified)",
    ),
    InstrumentDefinition(
        code="audit-c",
        name="AUDIT-Consumption (AUDIT-C)",
        scoring_version="audit-c@1",
        form_version="AUDIT items 1–3",
        instructions="Answer about your alcohol use.",
        items=_AUDIT_ITEMS[:3],
        total_min=0,
        total_max=12,
        bands=(),
        bands_by_sex=(
            (
                "male",
                _bands(
                    ("negative", gettext_noop("Negative screen"), 0, 3),
                    ("positive", gettext_noop("Positive screen"), 4, 12),
                ),
            ),
            (
                "female",
                _bands(
                    ("negative", gettext_noop("Negative screen"), 0, 2),
                    ("positive", gettext_noop("Positive screen"), 3, 12),
                ),
            ),
        ),
        flag_rules=(),
        loinc_panel="72109-2",
        loinc_total="75626-2",
        loinc_note=_LOINC_SWAP_WARNING,
        item_text_source="WHO AUDIT items 1–3 wording (free to use; not in the reference)",
        source="Bush K et al. Arch Intern Med 1998;158:1789; Bradley KA et al. Alcohol Clin Exp Res 2007;31:1208",
    ),
    InstrumentDefinition(
        code="pacs",
        name="Penn Alcohol Craving Scale (PACS)",
        scoring_version="pacs@1",
        form_version="PACS, 5 items, previous week (Flannery 1999)",
        instructions="Rate your craving for alcohol during the past week.",
        items=(
            Item(1, _PACS_TOPICS[0], _PACS_ITEM1_OPTIONS),
            *(Item(n, _PACS_TOPICS[n - 1], _PACS_NEUTRAL_OPTIONS) for n in range(2, 6)),
        ),
        total_min=0,
        total_max=30,
        bands=(),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel=None,
        loinc_total=None,
        loinc_note="No LOINC code found; a local code is used.",
        item_text_source=(
            "Neutral labels from the published item topics and item 1's published anchors; "
            "the full wording is free to use (PhenX protocol 511702) and should be loaded from it."
        ),
        source="Flannery BA, Volpicelli JR, Pettinati HM. Alcohol Clin Exp Res 1999;23:1289",
    ),
    InstrumentDefinition(
        code="phq-9",
        name="Patient Health Questionnaire-9 (PHQ-9)",
        scoring_version="phq-9@1",
        form_version="PHQ-9 (Kroenke 2001), 9 scored items; the unscored difficulty item is omitted",
        instructions=(
            "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
        ),
        items=_items(_PHQ9_TEXTS, _FREQUENCY_TWO_WEEKS),
        total_min=0,
        total_max=27,
        bands=_bands(
            ("minimal", gettext_noop("Minimal"), 0, 4),
            ("mild", gettext_noop("Mild"), 5, 9),
            ("moderate", gettext_noop("Moderate"), 10, 14),
            ("moderately-severe", gettext_noop("Moderately severe"), 15, 19),
            ("severe", gettext_noop("Severe"), 20, 27),
        ),
        bands_by_sex=(),
        flag_rules=(
            FlagRule(
                code=SELF_HARM_FLAG,
                item_number=9,
                above=0,
                description="Item 9 (thoughts of death or self-harm) answered above 'Not at all'.",
                alerts_clinicians=True,
                source="Standard PHQ-9 practice (Kroenke K et al. J Gen Intern Med 2001;16:606-613): item 9 needs a safety check whatever the total",
            ),
        ),
        loinc_panel="44249-1",
        loinc_total="44261-6",
        loinc_note="From the HL7 personal health record implementation guide value set.",
        item_text_source="PHQ-9 public wording (Pfizer; no permission required to reproduce)",
        source="Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med 2001;16:606-613",
    ),
    InstrumentDefinition(
        code="gad-7",
        name="Generalized Anxiety Disorder-7 (GAD-7)",
        scoring_version="gad-7@1",
        form_version="GAD-7 (Spitzer 2006)",
        instructions="Over the last 2 weeks, how often have you been bothered by the following problems?",
        items=_items(_GAD7_TEXTS, _FREQUENCY_TWO_WEEKS),
        total_min=0,
        total_max=21,
        bands=_bands(
            ("minimal", gettext_noop("Minimal"), 0, 4),
            ("mild", gettext_noop("Mild"), 5, 9),
            ("moderate", gettext_noop("Moderate"), 10, 14),
            ("severe", gettext_noop("Severe"), 15, 21),
        ),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel="69737-5",
        loinc_total="70274-6",
        loinc_note="From the HL7 personal health record implementation guide value set.",
        item_text_source="GAD-7 public wording (Pfizer; no permission required to reproduce)",
        source="Spitzer RL, Kroenke K, Williams JB, Löwe B. Arch Intern Med 2006;166:1092-1097",
    ),
    InstrumentDefinition(
        code="dast-10",
        name="Drug Abuse Screening Test (DAST-10)",
        scoring_version="dast-10@1",
        form_version="DAST-10 (Skinner), past 12 months",
        instructions="Answer yes or no about drug use in the past 12 months (not alcohol or tobacco).",
        items=tuple(
            Item(
                n,
                f"DAST-10 item {n}" + (" (reverse-scored)" if n == 3 else ""),
                _YES_NO,
                reverse_scored=n == 3,
            )
            for n in range(1, 11)
        ),
        total_min=0,
        total_max=10,
        bands=_bands(
            ("none", "No problems reported", 0, 0),
            ("low", "Low level", 1, 2),
            ("moderate", "Moderate level", 3, 5),
            ("substantial", "Substantial level", 6, 8),
            ("severe", "Severe level", 9, 10),
        ),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel="82666-9",
        loinc_total="82667-7",
        loinc_note=(
            "From public code (a Synthea-style record and a questionnaire URL), not from loinc.org: unverified, "
            "check at loinc.org before exchanging data."
        ),
        item_text_source=(
            "Neutral labels: the reference gives no item text and the DAST-10 wording is copyrighted "
            "(Skinner); load the licensed wording, e.g. from the NIDA Common Data Elements entry."
        ),
        source="Skinner HA. Addict Behav 1982;7:363-371; DAST-10 scoring as published by the NIDA Common Data Elements",
    ),
    InstrumentDefinition(
        code="cadss",
        name="Clinician-Administered Dissociative States Scale (CADSS), subjective items",
        scoring_version="cadss@1",
        form_version="CADSS 23-item subjective version (as used in ketamine and esketamine studies)",
        instructions="Rate each item for the patient's state at this time, in this room.",
        items=tuple(Item(n, f"CADSS item {n}", _CADSS_OPTIONS) for n in range(1, 24)),
        total_min=0,
        total_max=92,
        bands=(),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel=None,
        loinc_total=None,
        loinc_note="No LOINC code found; a local code is used.",
        item_text_source=(
            "Neutral labels: the reference gives no item wording for the 23-item version (Bremner 1998); "
            "the 0–4 anchors are not confirmed against the published scale."
        ),
        source="Bremner JD et al. J Trauma Stress 1998;11:125-136",
    ),
)

_BY_CODE = {definition.code: definition for definition in _DEFINITIONS}


def instrument_definitions() -> tuple[InstrumentDefinition, ...]:
    """All instrument definitions, in a stable order, for forms and the FHIR Questionnaire mapping."""
    return _DEFINITIONS


def get_instrument(code: object) -> InstrumentDefinition:
    """The definition for ``code`` (e.g. ``"phq-9"``); refuses an unknown code with ``unknown_instrument``."""
    if not isinstance(code, str) or code not in _BY_CODE:
        known = ", ".join(_BY_CODE)
        raise DomainError(
            "unknown_instrument",
            f"Unknown instrument {code!r}; known instruments: {known}.",
            field="instrument",
        )
    return _BY_CODE[code]


def score_instrument(instrument: str, answers: Sequence[int], *, sex: str | None = None) -> InstrumentScore:
    """Score one completed questionnaire.

    Guarantees: every answer is an int among the item's allowed values (AUDIT items 9 and 10
    only 0, 2 or 4); the total lies in the instrument's range; ``band`` is the band containing
    the total (``None`` for PACS and CADSS); flags are in rule order. ``sex`` ("male"/"female") is
    needed only where bands differ by sex (AUDIT-C) and ignored otherwise.

    Refusals: ``unknown_instrument``; ``invalid_answers`` (not a list); ``wrong_answer_count``;
    ``invalid_answer`` (not an integer) and ``answer_out_of_range``, both with
    ``field="answers[i]"`` (0-based index) and the 1-based item number in the message;
    ``sex_required`` and ``invalid_sex`` (field ``sex``).

    Source: clinical.md §4.1–4.5 and §3.6 (CADSS); scoring as listed in issue 6.
    """
    definition = get_instrument(instrument)
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise DomainError(
            "invalid_answers",
            f"Answers for {definition.code} must be a list of integers, got {type(answers).__name__}.",
            field="answers",
        )
    if len(answers) != definition.item_count:
        raise DomainError(
            "wrong_answer_count",
            f"{definition.code} has {definition.item_count} items; got {len(answers)} answers.",
            field="answers",
        )
    item_scores: list[int] = []
    for index, (item, answer) in enumerate(zip(definition.items, answers, strict=True)):
        field = f"answers[{index}]"
        # bool is an int subclass; True as an answer is a caller bug, not "1".
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise DomainError(
                "invalid_answer",
                f"{definition.code} item {item.number}: answer must be an integer, got {answer!r}.",
                field=field,
            )
        allowed = item.allowed_values
        if answer not in allowed:
            raise DomainError(
                "answer_out_of_range",
                f"{definition.code} item {item.number}: answer {answer} is not one of "
                f"{', '.join(map(str, allowed))}.",
                field=field,
            )
        item_scores.append(max(allowed) - answer if item.reverse_scored else answer)

    total = sum(item_scores)
    bands = _bands_for(definition, sex)
    band = next((b.code for b in bands if b.min_total <= total <= b.max_total), None)
    flags = tuple(
        rule.code for rule in definition.flag_rules if item_scores[rule.item_number - 1] > rule.above
    )
    return InstrumentScore(
        instrument=definition.code,
        total=total,
        band=band,
        flags=flags,
        scoring_version=definition.scoring_version,
        item_scores=tuple(item_scores),
    )


def _bands_for(definition: InstrumentDefinition, sex: str | None) -> tuple[Band, ...]:
    if not definition.requires_sex:
        return definition.bands
    if sex is None:
        raise DomainError(
            "sex_required",
            f"{definition.code} bands differ by sex; give sex as 'male' or 'female'.",
            field="sex",
        )
    for key, bands in definition.bands_by_sex:
        if sex == key:
            return bands
    raise DomainError("invalid_sex", f"sex must be 'male' or 'female', got {sex!r}.", field="sex")


def band_label(instrument: str, band: str | None) -> str | None:
    """The words of ``band`` (a band code of ``instrument``, as stored with a response), or None
    for no band. AUDIT-C's bands differ by sex in their ranges, not in their names."""
    if not band:
        return None
    definition = get_instrument(instrument)
    candidates = [*definition.bands, *(b for _, bands in definition.bands_by_sex for b in bands)]
    return next((b.label for b in candidates if b.code == band), None)

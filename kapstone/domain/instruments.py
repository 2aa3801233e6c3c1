"""Questionnaire definitions and scoring: AUDIT, AUDIT-C, PACS, PHQ-9, GAD-7, DAST-10, CADSS,
CIWA-Ar, COWS and the C-SSRS screener.

Each instrument is an :class:`InstrumentDefinition` carrying its items (text, answer options),
its total range, bands, flags, LOINC codes and where the wording came from. Forms render from
:func:`instrument_definitions`; :func:`score_instrument` is the one scoring entry point, used by
the web form, the API and ``kapstone score``.

Item wording policy: AUDIT (WHO), PHQ-9 and GAD-7 (Pfizer, "no permission required") are free to
use, and their well-known wording is reproduced here. CIWA-Ar ("not copyrighted and may be used
freely", attributed to Sullivan 1989) and COWS (Wesson & Ling 2003, Appendix 1: "this version may
be copied and used clinically") carry their published item wording and anchors. PACS, DAST-10,
CADSS and the C-SSRS screener carry neutral item labels plus a note: the reference gives no item
text for PACS, DAST-10 and CADSS, DAST-10 and CADSS are copyrighted, and the C-SSRS terms
(Columbia Lighthouse Project) were not confirmed to reach reproduction in distributed software;
``licensed_copy_required`` marks the instruments whose wording the clinic must supply from its
licensed copy (shown on the form). ``InstrumentDefinition.item_text_source`` says which applies.

Scoring is the sum of the item scores, except where a definition says otherwise: the C-SSRS
screener's ``total`` counts the items answered yes and its ``band`` is the Columbia triage level
(``rule_bands``: the highest level whose item condition holds), not a range of the total.

Source: /work/shared/reference/clinical.md §4.1–4.5 (scoring), §3.6 (CADSS), §4.8 (LOINC), §8
(CIWA-Ar, COWS, C-SSRS screener triage).
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

#: The flag of a C-SSRS screener at the high triage level (intent, a plan with intent, or suicidal
#: behaviour within the past 3 months): an open alert for the clinicians, besides ``self-harm-risk``.
SUICIDE_RISK_HIGH_FLAG = "suicide-risk-high"

#: Each flag in words, for screens (codes stay in the API, the CLI and logs).
FLAG_LABELS = {SELF_HARM_FLAG: "Self-harm risk", SUICIDE_RISK_HIGH_FLAG: "High suicide risk"}

#: The instruments a patient may fill in themselves in the portal. Their wording is free to
#: reproduce (AUDIT and AUDIT-C: WHO; PHQ-9 and GAD-7: Pfizer, no permission required; PACS: free
#: to use, PhenX protocol 511702) and each is a self-report questionnaire. DAST-10 is excluded
#: (copyrighted wording, Skinner; we hold neutral labels only), and so are the clinician-administered
#: scales: the CADSS (rated during a session), CIWA-Ar and COWS (observer-rated withdrawal signs,
#: e.g. pulse, tremor, pupils) and the C-SSRS screener (a structured interview whose answers
#: need a clinician there to act on them). See docs/clinical-rules.md, "Patient-entered outcomes".
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
class ItemAbove:
    """A condition on one item: its answer (as given, before reverse scoring) is above ``above``."""

    item_number: int
    above: int


def _any_above(*pairs: tuple[int, int]) -> tuple[ItemAbove, ...]:
    return tuple(ItemAbove(item, above) for item, above in pairs)


@dataclass(frozen=True)
class FlagRule:
    """A flag raised when any of ``when`` holds (PHQ-9: item 9 > 0; C-SSRS: any item yes)."""

    code: str
    when: tuple[ItemAbove, ...]
    description: str
    alerts_clinicians: bool
    source: str


@dataclass(frozen=True)
class RuleBand:
    """A band chosen by item answers, not by the total (the C-SSRS triage levels). Rule bands are
    listed highest first; the first whose ``when`` holds is the band, and the last one, with an
    empty ``when``, applies when none does."""

    code: str
    label: str
    when: tuple[ItemAbove, ...]


@dataclass(frozen=True)
class InstrumentDefinition:
    """Everything a form, the scorer and the FHIR mapping need about one questionnaire.

    ``bands`` applies to everyone; ``bands_by_sex`` (AUDIT-C) replaces it and makes ``sex``
    mandatory when scoring; ``rule_bands`` (C-SSRS) replaces both with bands chosen by item
    answers. ``total_counts_yes``: the total is the number of items answered above 0 (C-SSRS),
    not the sum. ``loinc_note`` says when a code is unverified or often confused.
    ``short_name`` is the name on buttons and lists, in the clinician's words.
    ``licensed_copy_required``: we hold neutral item labels only, and the clinic must use its
    licensed copy of the questionnaire for the wording (DAST-10, CADSS, C-SSRS).
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
    short_name: str = ""
    rule_bands: tuple[RuleBand, ...] = ()
    total_counts_yes: bool = False
    licensed_copy_required: bool = False

    @property
    def display_name(self) -> str:
        return self.short_name or self.code.upper()

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


# CIWA-Ar (Sullivan JT, Sykora K, Schneiderman J, Naranjo CA, Sellers EM. Br J Addict
# 1989;84:1353-1357, PMID 2597811). Item wording and anchors as on the published scale (transcribed
# by CamCOPS, ucam-department-of-psychiatry/camcops, server/camcops_server/extra_strings/ciwa.xml,
# which records it as public domain: "This scale is not copyrighted and may be used freely",
# Sullivan 1989). Values between the anchors carry no words on the scale, so none here.
def _anchored(top: int, anchors: dict[int, str]) -> tuple[AnswerOption, ...]:
    return tuple(AnswerOption(value, anchors.get(value, "")) for value in range(top + 1))


_CIWA_HALLUCINATION_ANCHORS = {
    4: "Moderately severe hallucinations",
    5: "Severe hallucinations",
    6: "Extremely severe hallucinations",
    7: "Continuous hallucinations",
}
_CIWA_ITEMS = (
    Item(
        1,
        "Nausea and vomiting. Ask “Do you feel sick to your stomach? Have you vomited?” Observation.",
        _anchored(
            7,
            {
                0: "No nausea and no vomiting",
                1: "Mild nausea with no vomiting",
                4: "Intermittent nausea with dry heaves",
                7: "Constant nausea, frequent dry heaves and vomiting",
            },
        ),
    ),
    Item(
        2,
        "Tremor. Arms extended and fingers spread apart. Observation.",
        _anchored(
            7,
            {
                0: "No tremor",
                1: "Not visible, but can be felt fingertip to fingertip",
                4: "Moderate, with patient’s arms extended",
                7: "Severe, even with arms not extended",
            },
        ),
    ),
    Item(
        3,
        "Paroxysmal sweats. Observation.",
        _anchored(
            7,
            {
                0: "No sweat visible",
                1: "Barely perceptible sweating, palms moist",
                4: "Beads of sweat obvious on forehead",
                7: "Drenching sweats",
            },
        ),
    ),
    Item(
        4,
        "Anxiety. Ask “Do you feel nervous?” Observation.",
        _anchored(
            7,
            {
                0: "No anxiety, at ease",
                1: "Mildly anxious",
                4: "Moderately anxious, or guarded, so anxiety is inferred",
                7: "Equivalent to acute panic states as seen in severe delirium or acute schizophrenic reactions",
            },
        ),
    ),
    Item(
        5,
        "Agitation. Observation.",
        _anchored(
            7,
            {
                0: "Normal activity",
                1: "Somewhat more than normal activity",
                4: "Moderately fidgety and restless",
                7: "Paces back and forth during most of the interview, or constantly thrashes about",
            },
        ),
    ),
    Item(
        6,
        "Tactile disturbances. Ask “Have you any itching, pins and needles sensations, any burning, "
        "any numbness, or do you feel bugs crawling on or under your skin?” Observation.",
        _anchored(
            7,
            {
                0: "None",
                1: "Very mild itching, pins and needles, burning or numbness",
                2: "Mild itching, pins and needles, burning or numbness",
                3: "Moderate itching, pins and needles, burning or numbness",
                **_CIWA_HALLUCINATION_ANCHORS,
            },
        ),
    ),
    Item(
        7,
        "Auditory disturbances. Ask “Are you more aware of sounds around you? Are they harsh? Do they "
        "frighten you? Are you hearing anything that is disturbing to you? Are you hearing things you "
        "know are not there?” Observation.",
        _anchored(
            7,
            {
                0: "Not present",
                1: "Very mild harshness or ability to frighten",
                2: "Mild harshness or ability to frighten",
                3: "Moderate harshness or ability to frighten",
                **_CIWA_HALLUCINATION_ANCHORS,
            },
        ),
    ),
    Item(
        8,
        "Visual disturbances. Ask “Does the light appear to be too bright? Is its color different? Does "
        "it hurt your eyes? Are you seeing anything that is disturbing to you? Are you seeing things you "
        "know are not there?” Observation.",
        _anchored(
            7,
            {
                0: "Not present",
                1: "Very mild sensitivity",
                2: "Mild sensitivity",
                3: "Moderate sensitivity",
                **_CIWA_HALLUCINATION_ANCHORS,
            },
        ),
    ),
    Item(
        9,
        "Headache, fullness in head. Ask “Does your head feel different? Does it feel like there is a "
        "band around your head?” Do not rate for dizziness or lightheadedness. Otherwise, rate severity.",
        _anchored(
            7,
            {
                0: "Not present",
                1: "Very mild",
                2: "Mild",
                3: "Moderate",
                4: "Moderately severe",
                5: "Severe",
                6: "Very severe",
                7: "Extremely severe",
            },
        ),
    ),
    Item(
        10,
        "Orientation and clouding of sensorium. Ask “What day is this? Where are you? Who am I?”",
        _anchored(
            4,
            {
                0: "Oriented and can do serial additions",
                1: "Cannot do serial additions or is uncertain about date",
                2: "Disoriented for date by no more than 2 calendar days",
                3: "Disoriented for date by more than 2 calendar days",
                4: "Disoriented for place and/or person",
            },
        ),
    ),
)

# COWS (Wesson DR, Ling W. J Psychoactive Drugs 2003;35:253-259, doi 10.1080/02791072.2003.10400007),
# Appendix 1, which says "this version may be copied and used clinically". Each item has its own
# values (clinical.md §8). Wording as reproduced in SAMHSA TIP 45 (NCBI Bookshelf NBK64244); the
# anchors of items 6 and 11 were checked against secondary copies only (docs/clinical-rules.md).
_COWS_ITEMS = (
    Item(
        1,
        "Resting pulse rate (beats/minute), measured after the patient is sitting or lying for one minute.",
        (
            AnswerOption(0, "Pulse rate 80 or below"),
            AnswerOption(1, "Pulse rate 81–100"),
            AnswerOption(2, "Pulse rate 101–120"),
            AnswerOption(4, "Pulse rate greater than 120"),
        ),
    ),
    Item(
        2,
        "Sweating: over the past half hour, not accounted for by room temperature or patient activity.",
        (
            AnswerOption(0, "No report of chills or flushing"),
            AnswerOption(1, "Subjective report of chills or flushing"),
            AnswerOption(2, "Flushed or observable moistness on face"),
            AnswerOption(3, "Beads of sweat on brow or face"),
            AnswerOption(4, "Sweat streaming off face"),
        ),
    ),
    Item(
        3,
        "Restlessness: observation during assessment.",
        (
            AnswerOption(0, "Able to sit still"),
            AnswerOption(1, "Reports difficulty sitting still, but is able to do so"),
            AnswerOption(3, "Frequent shifting or extraneous movements of legs/arms"),
            AnswerOption(5, "Unable to sit still for more than a few seconds"),
        ),
    ),
    Item(
        4,
        "Pupil size.",
        (
            AnswerOption(0, "Pupils pinned or normal size for room light"),
            AnswerOption(1, "Pupils possibly larger than normal for room light"),
            AnswerOption(2, "Pupils moderately dilated"),
            AnswerOption(5, "Pupils so dilated that only the rim of the iris is visible"),
        ),
    ),
    Item(
        5,
        "Bone or joint aches: if the patient was having pain previously, only the additional component "
        "attributed to opiate withdrawal is scored.",
        (
            AnswerOption(0, "Not present"),
            AnswerOption(1, "Mild diffuse discomfort"),
            AnswerOption(2, "Patient reports severe diffuse aching of joints/muscles"),
            AnswerOption(
                4, "Patient is rubbing joints or muscles and is unable to sit still because of discomfort"
            ),
        ),
    ),
    Item(
        6,
        "Runny nose or tearing: not accounted for by cold symptoms or allergies.",
        (
            AnswerOption(0, "Not present"),
            AnswerOption(1, "Nasal stuffiness or unusually moist eyes"),
            AnswerOption(2, "Nose running or tearing"),
            AnswerOption(4, "Nose constantly running or tears streaming down cheeks"),
        ),
    ),
    Item(
        7,
        "GI upset: over the last half hour.",
        (
            AnswerOption(0, "No GI symptoms"),
            AnswerOption(1, "Stomach cramps"),
            AnswerOption(2, "Nausea or loose stool"),
            AnswerOption(3, "Vomiting or diarrhea"),
            AnswerOption(5, "Multiple episodes of diarrhea or vomiting"),
        ),
    ),
    Item(
        8,
        "Tremor: observation of outstretched hands.",
        (
            AnswerOption(0, "No tremor"),
            AnswerOption(1, "Tremor can be felt, but not observed"),
            AnswerOption(2, "Slight tremor observable"),
            AnswerOption(4, "Gross tremor or muscle twitching"),
        ),
    ),
    Item(
        9,
        "Yawning: observation during assessment.",
        (
            AnswerOption(0, "No yawning"),
            AnswerOption(1, "Yawning once or twice during assessment"),
            AnswerOption(2, "Yawning three or more times during assessment"),
            AnswerOption(4, "Yawning several times/minute"),
        ),
    ),
    Item(
        10,
        "Anxiety or irritability.",
        (
            AnswerOption(0, "None"),
            AnswerOption(1, "Patient reports increasing irritability or anxiousness"),
            AnswerOption(2, "Patient obviously irritable or anxious"),
            AnswerOption(
                4, "Patient so irritable or anxious that participation in the assessment is difficult"
            ),
        ),
    ),
    Item(
        11,
        "Gooseflesh skin.",
        (
            AnswerOption(0, "Skin is smooth"),
            AnswerOption(3, "Piloerection of skin can be felt or hairs standing up on arms"),
            AnswerOption(5, "Prominent piloerection"),
        ),
    ),
)

# C-SSRS screener (Columbia Lighthouse Project, cssrs.columbia.edu; Posner K et al. Am J
# Psychiatry 2011;168:1266-1277). Neutral labels naming what each question asks about (the
# published category of each item), not the screener's wording: the clinic asks from its copy.
# Items 1-5 cover the past month; item 6 (suicidal behaviour) is asked for the lifetime, with
# "within the past 3 months" deciding the triage level (clinical.md §8).
_CSSRS_ITEM_TOPICS = (
    "Past month: wish to be dead",
    "Past month: non-specific active suicidal thoughts",
    "Past month: active suicidal ideation with any method (no plan), without intent to act",
    "Past month: active suicidal ideation with some intent to act, without a specific plan",
    "Past month: active suicidal ideation with a specific plan and intent",
)
_CSSRS_ITEMS = (
    *_items(_CSSRS_ITEM_TOPICS, _YES_NO),
    Item(
        6,
        "Suicidal behaviour, lifetime: preparatory acts, or an aborted, interrupted or actual attempt",
        (
            AnswerOption(0, "No"),
            AnswerOption(1, "Yes, more than 3 months ago"),
            AnswerOption(2, "Yes, within the past 3 months"),
        ),
    ),
)


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
                when=_any_above((9, 0)),
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
            "Neutral labels: the DAST-10 wording is copyrighted (Skinner HA, 1982; the reference gives no "
            "item text). Ask the questions from the clinic's licensed copy of the DAST-10 and record "
            "each answer against its item number."
        ),
        source="Skinner HA. Addict Behav 1982;7:363-371; DAST-10 scoring as published by the NIDA Common Data Elements",
        licensed_copy_required=True,
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
            "Neutral labels: the CADSS wording is the authors' (Bremner JD et al. 1998; the reference gives "
            "no item wording for the 23-item version). Rate from the clinic's licensed copy of the CADSS; "
            "the 0–4 anchors are not confirmed against the published scale."
        ),
        source="Bremner JD et al. J Trauma Stress 1998;11:125-136",
        licensed_copy_required=True,
    ),
    InstrumentDefinition(
        code="ciwa-ar",
        name="Clinical Institute Withdrawal Assessment for Alcohol, revised (CIWA-Ar)",
        short_name="CIWA-Ar (alcohol withdrawal)",
        scoring_version="ciwa-ar@1",
        form_version="CIWA-Ar, 10 items (Sullivan 1989)",
        instructions=(
            "Clinician-rated: ask and observe each item now. The dose-day threshold is the protocol's "
            "(local policy), not these bands."
        ),
        items=_CIWA_ITEMS,
        total_min=0,
        total_max=67,
        # Cut-offs vary by institution (clinical.md §8: commonly < 8–10 minimal, 8/10–15 moderate,
        # > 15 severe); these bands take 10 as the lower cut (issue 14). They describe the score; a
        # protocol that acts on it sets its own threshold (a protocol parameter, local policy).
        bands=_bands(
            ("minimal", gettext_noop("Absent or minimal withdrawal"), 0, 9),
            ("moderate", gettext_noop("Moderate withdrawal"), 10, 15),
            ("severe", gettext_noop("Severe withdrawal"), 16, 67),
        ),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel=None,
        loinc_total=None,
        loinc_note="No LOINC code in the reference; a local code is used.",
        item_text_source=(
            "Published CIWA-Ar wording and anchors (Sullivan et al. 1989), reported as public domain "
            "(“not copyrighted and may be used freely”); values between anchors carry no words."
        ),
        source=(
            "Sullivan JT, Sykora K, Schneiderman J, Naranjo CA, Sellers EM. Br J Addict 1989;84:1353-1357 "
            "(PMID 2597811); bands: clinical.md §8 (cut-offs vary by institution)"
        ),
    ),
    InstrumentDefinition(
        code="cows",
        name="Clinical Opiate Withdrawal Scale (COWS)",
        short_name="COWS (opioid withdrawal)",
        scoring_version="cows@1",
        form_version="COWS, 11 items (Wesson & Ling 2003, Appendix 1)",
        instructions=(
            "Clinician-rated: for each item choose the answer that best describes the patient's signs "
            "or symptoms, rating only what is apparently due to opioid withdrawal (a pulse raised by "
            "exertion just before does not count). The dose-day threshold is the protocol's (local "
            "policy), not these bands."
        ),
        items=_COWS_ITEMS,
        total_min=0,
        total_max=48,
        bands=_bands(
            ("none", gettext_noop("No active withdrawal"), 0, 4),
            ("mild", gettext_noop("Mild withdrawal"), 5, 12),
            ("moderate", gettext_noop("Moderate withdrawal"), 13, 24),
            ("moderately-severe", gettext_noop("Moderately severe withdrawal"), 25, 36),
            ("severe", gettext_noop("Severe withdrawal"), 37, 48),
        ),
        bands_by_sex=(),
        flag_rules=(),
        loinc_panel=None,
        loinc_total=None,
        loinc_note="No LOINC code in the reference; a local code is used.",
        item_text_source=(
            "Published COWS wording and anchors (Wesson & Ling 2003, Appendix 1: “this version may be "
            "copied and used clinically”)."
        ),
        source=(
            "Wesson DR, Ling W. J Psychoactive Drugs 2003;35:253-259 (doi 10.1080/02791072.2003.10400007); "
            "item values and bands: clinical.md §8"
        ),
    ),
    InstrumentDefinition(
        code="c-ssrs",
        name="Columbia-Suicide Severity Rating Scale (C-SSRS), screener",
        short_name="C-SSRS screener",
        scoring_version="c-ssrs@1",
        form_version="C-SSRS screener, 6 items: ideation in the past month, behaviour lifetime / past 3 months",
        instructions=(
            "Clinician-administered: ask the questions from the clinic's copy of the Columbia screener. "
            "Ask items 1 and 2; if item 2 is yes, ask items 3, 4 and 5; always ask item 6. Record an item "
            "not asked as No."
        ),
        items=_CSSRS_ITEMS,
        total_min=0,
        total_max=6,
        bands=(),
        bands_by_sex=(),
        rule_bands=(
            RuleBand("high", gettext_noop("High risk"), _any_above((4, 0), (5, 0), (6, 1))),
            RuleBand("moderate", gettext_noop("Moderate risk"), _any_above((3, 0), (6, 0))),
            RuleBand("low", gettext_noop("Low risk"), _any_above((1, 0), (2, 0))),
            RuleBand("none", gettext_noop("No risk identified"), ()),
        ),
        total_counts_yes=True,
        flag_rules=(
            FlagRule(
                code=SELF_HARM_FLAG,
                when=_any_above((1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)),
                description="C-SSRS screener: suicidal ideation or behaviour answered yes.",
                alerts_clinicians=True,
                source="Columbia Lighthouse Project screener triage (clinical.md §8): any yes needs a clinician's follow-up",
            ),
            FlagRule(
                code=SUICIDE_RISK_HIGH_FLAG,
                when=_any_above((4, 0), (5, 0), (6, 1)),
                description=(
                    "C-SSRS screener at high risk: intent, a plan with intent, or suicidal behaviour within "
                    "the past 3 months."
                ),
                alerts_clinicians=True,
                source="Columbia Lighthouse Project screener triage (clinical.md §8): items 4 or 5, or behaviour within 3 months",
            ),
        ),
        loinc_panel=None,
        loinc_total=None,
        loinc_note="No LOINC code in the reference; a local code is used.",
        item_text_source=(
            "Neutral labels naming what each question covers, not the screener's wording: the C-SSRS is "
            "© The Research Foundation for Mental Hygiene and free for clinical use under the Columbia "
            "Lighthouse Project's terms, which we did not confirm reach reproduction in distributed "
            "software. Ask from the clinic's copy of the screener (cssrs.columbia.edu)."
        ),
        source=(
            "Columbia Lighthouse Project, C-SSRS screener and triage (cssrs.columbia.edu); Posner K et al. "
            "Am J Psychiatry 2011;168:1266-1277; triage levels: clinical.md §8"
        ),
        licensed_copy_required=True,
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
    only 0, 2 or 4; each COWS item its own, e.g. gooseflesh 0, 3 or 5); the total lies in the
    instrument's range; ``band`` is the band containing the total (``None`` for PACS and CADSS);
    flags are in rule order. ``sex`` ("male"/"female") is needed only where bands differ by sex
    (AUDIT-C) and ignored otherwise.

    C-SSRS screener: ``total`` is the number of items answered yes (item 6 = 1 or 2 counts as
    yes); ``band`` is the Columbia triage level, the highest that applies: ``high`` (item 4 or 5
    yes, or item 6 = 2: behaviour within the past 3 months), ``moderate`` (item 3 yes, or item
    6 = 1: behaviour more than 3 months ago), ``low`` (item 1 and/or 2 yes only), ``none`` (all
    no). Answers are scored as recorded, skip logic or not: a yes to items 3–5 with item 2 no still
    raises the level (the safer reading). Flags: ``self-harm-risk`` when any item is yes,
    ``suicide-risk-high`` at the high level; both alert the clinicians.

    Refusals: ``unknown_instrument``; ``invalid_answers`` (not a list); ``wrong_answer_count``;
    ``invalid_answer`` (not an integer) and ``answer_out_of_range``, both with
    ``field="answers[i]"`` (0-based index) and the 1-based item number in the message;
    ``sex_required`` and ``invalid_sex`` (field ``sex``).

    Source: clinical.md §4.1–4.5, §3.6 (CADSS) and §8 (CIWA-Ar: Sullivan et al. Br J Addict
    1989;84:1353-1357; COWS: Wesson & Ling, J Psychoactive Drugs 2003;35:253-259; C-SSRS screener
    triage: Columbia Lighthouse Project); scoring as listed in issues 6 and 14.
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

    given = tuple(answers)
    # The C-SSRS total counts the items answered yes (item 6 = 2 is one yes, not two).
    total = sum(1 for answer in given if answer > 0) if definition.total_counts_yes else sum(item_scores)
    if definition.rule_bands:
        band: str | None = next(b.code for b in definition.rule_bands if not b.when or _holds(b.when, given))
    else:
        bands = _bands_for(definition, sex)
        band = next((b.code for b in bands if b.min_total <= total <= b.max_total), None)
    flags = tuple(rule.code for rule in definition.flag_rules if _holds(rule.when, given))
    return InstrumentScore(
        instrument=definition.code,
        total=total,
        band=band,
        flags=flags,
        scoring_version=definition.scoring_version,
        item_scores=tuple(item_scores),
    )


def _holds(conditions: tuple[ItemAbove, ...], answers: tuple[int, ...]) -> bool:
    """Whether any of ``conditions`` holds for ``answers`` (validated, in item order)."""
    return any(answers[c.item_number - 1] > c.above for c in conditions)


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
    candidates = [
        *definition.bands,
        *(b for _, bands in definition.bands_by_sex for b in bands),
        *definition.rule_bands,
    ]
    return next((b.label for b in candidates if b.code == band), None)

"""Questionnaire scoring: every band boundary, flags, reverse scoring and every refusal."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import get_instrument, instrument_definitions, score_instrument


def answers_totalling(instrument: str, total: int) -> list[int]:
    """Answers (pre-reverse-scoring) giving ``total``, filling items from the first."""
    definition = get_instrument(instrument)
    answers = []
    remaining = total
    for item in definition.items:
        scores = sorted(item.allowed_values)
        # Largest allowed score not above what remains (AUDIT 9/10: 0/2/4).
        score = max(v for v in scores if v <= remaining) if remaining > 0 else 0
        remaining -= score
        answers.append(max(scores) - score if item.reverse_scored else score)
    assert remaining == 0, f"cannot reach {total} on {instrument}"
    return answers


def refusal(instrument, answers, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        score_instrument(instrument, answers, **kwargs)
    return caught.value


# --- definitions -------------------------------------------------------------------------------


def test_definitions_cover_the_issue_instruments_with_consistent_ranges():
    codes = [d.code for d in instrument_definitions()]
    assert codes == [
        "audit", "audit-c", "pacs", "phq-9", "gad-7", "dast-10", "cadss", "ciwa-ar", "cows", "c-ssrs",
    ]  # fmt: skip
    for definition in instrument_definitions():
        if definition.total_counts_yes:  # C-SSRS: the number of items answered yes
            top = definition.item_count
        else:
            top = sum(max(item.allowed_values) for item in definition.items)
        assert (definition.total_min, definition.total_max) == (0, top)
        band_sets = [definition.bands] + [bands for _, bands in definition.bands_by_sex]
        for bands in band_sets:
            if bands:  # bands tile the whole range without gaps or overlaps
                assert bands[0].min_total == 0 and bands[-1].max_total == top
                for earlier, later in itertools.pairwise(bands):
                    assert later.min_total == earlier.max_total + 1
        assert [item.number for item in definition.items] == list(range(1, definition.item_count + 1))


@pytest.mark.parametrize(
    ("code", "items", "panel", "total"),
    [
        ("audit", 10, "72110-0", "75624-7"),
        ("audit-c", 3, "72109-2", "75626-2"),
        ("pacs", 5, None, None),
        ("phq-9", 9, "44249-1", "44261-6"),
        ("gad-7", 7, "69737-5", "70274-6"),
        ("dast-10", 10, "82666-9", "82667-7"),
        ("cadss", 23, None, None),
        ("ciwa-ar", 10, None, None),
        ("cows", 11, None, None),
        ("c-ssrs", 6, None, None),
    ],
)
def test_definition_item_counts_and_loinc_codes(code, items, panel, total):
    definition = get_instrument(code)
    assert definition.item_count == items
    assert (definition.loinc_panel, definition.loinc_total) == (panel, total)
    assert definition.loinc_note and definition.item_text_source and definition.source


def test_audit_loinc_note_warns_about_the_known_swap():
    assert "swapped" in get_instrument("audit").loinc_note
    assert "swapped" in get_instrument("audit-c").loinc_note
    assert "unverified" in get_instrument("dast-10").loinc_note


def test_cadss_records_its_version_and_uses_neutral_item_labels():
    cadss = get_instrument("cadss")
    assert "23-item" in cadss.form_version
    assert cadss.items[0].text == "CADSS item 1" and cadss.items[22].text == "CADSS item 23"
    assert cadss.total_max == 92
    assert all(item.allowed_values == (0, 1, 2, 3, 4) for item in cadss.items)


def test_dast10_item_labels_are_neutral_and_item3_is_marked_reverse_scored():
    dast = get_instrument("dast-10")
    assert [item.reverse_scored for item in dast.items] == [n == 3 for n in range(1, 11)]
    assert dast.items[0].text == "DAST-10 item 1"


def test_audit_items_9_and_10_offer_only_0_2_4():
    audit = get_instrument("audit")
    assert audit.items[8].allowed_values == (0, 2, 4)
    assert audit.items[9].allowed_values == (0, 2, 4)
    assert all(item.allowed_values == (0, 1, 2, 3, 4) for item in audit.items[:8])


# --- bands at their boundaries -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "total", "band"),
    [
        ("audit", 0, "low-risk"),
        ("audit", 7, "low-risk"),
        ("audit", 8, "hazardous"),
        ("audit", 15, "hazardous"),
        ("audit", 16, "harmful"),
        ("audit", 19, "harmful"),
        ("audit", 20, "possible-dependence"),
        ("audit", 40, "possible-dependence"),
        ("phq-9", 4, "minimal"),
        ("phq-9", 5, "mild"),
        ("phq-9", 9, "mild"),
        ("phq-9", 10, "moderate"),
        ("phq-9", 14, "moderate"),
        ("phq-9", 15, "moderately-severe"),
        ("phq-9", 19, "moderately-severe"),
        ("phq-9", 20, "severe"),
        ("phq-9", 27, "severe"),
        ("gad-7", 0, "minimal"),
        ("gad-7", 4, "minimal"),
        ("gad-7", 5, "mild"),
        ("gad-7", 9, "mild"),
        ("gad-7", 10, "moderate"),
        ("gad-7", 14, "moderate"),
        ("gad-7", 15, "severe"),
        ("gad-7", 21, "severe"),
        ("dast-10", 0, "none"),
        ("dast-10", 1, "low"),
        ("dast-10", 2, "low"),
        ("dast-10", 3, "moderate"),
        ("dast-10", 5, "moderate"),
        ("dast-10", 6, "substantial"),
        ("dast-10", 8, "substantial"),
        ("dast-10", 9, "severe"),
        ("dast-10", 10, "severe"),
    ],
)
def test_band_boundaries(code, total, band):
    result = score_instrument(code, answers_totalling(code, total))
    assert (result.total, result.band) == (total, band)


@pytest.mark.parametrize(
    ("sex", "total", "band"),
    [
        ("male", 3, "negative"),
        ("male", 4, "positive"),
        ("male", 5, "positive"),
        ("female", 2, "negative"),
        ("female", 3, "positive"),
        ("female", 4, "positive"),
        ("male", 12, "positive"),
        ("female", 0, "negative"),
    ],
)
def test_audit_c_is_positive_at_4_for_men_and_3_for_women(sex, total, band):
    result = score_instrument("audit-c", answers_totalling("audit-c", total), sex=sex)
    assert (result.total, result.band) == (total, band)


@pytest.mark.parametrize("code", ["pacs", "cadss"])
def test_instruments_without_bands_return_none(code):
    top = get_instrument(code).total_max
    assert score_instrument(code, answers_totalling(code, top)).band is None
    assert score_instrument(code, answers_totalling(code, 0)).total == 0


def test_pacs_total_runs_to_30_and_cadss_to_92():
    assert score_instrument("pacs", [6] * 5).total == 30
    assert score_instrument("cadss", [4] * 23).total == 92


# --- flags, reverse scoring, versions ----------------------------------------------------------


@pytest.mark.parametrize(("item9", "flags"), [(0, ()), (1, ("self-harm-risk",)), (3, ("self-harm-risk",))])
def test_phq9_flags_self_harm_risk_whenever_item_9_is_above_0(item9, flags):
    result = score_instrument("phq-9", [0] * 8 + [item9])
    assert result.flags == flags
    assert get_instrument("phq-9").flag_rules[0].alerts_clinicians


def test_phq9_flag_does_not_depend_on_other_items():
    assert score_instrument("phq-9", [3] * 8 + [0]).flags == ()
    assert score_instrument("phq-9", [0] * 8 + [1]).band == "minimal"


def test_dast10_item_3_no_scores_1_and_yes_scores_0():
    all_no = score_instrument("dast-10", [0] * 10)
    all_yes = score_instrument("dast-10", [1] * 10)
    assert (all_no.total, all_no.band, all_no.item_scores[2]) == (1, "low", 1)
    assert (all_yes.total, all_yes.band, all_yes.item_scores[2]) == (9, "severe", 0)


def test_audit_accepts_2_and_4_on_items_9_and_10():
    assert score_instrument("audit", [0] * 8 + [2, 4]).total == 6


def test_result_records_the_scoring_version():
    assert score_instrument("gad-7", [0] * 7).scoring_version == "gad-7@1"


def test_sex_is_ignored_where_bands_do_not_depend_on_it():
    assert score_instrument("audit", [0] * 10, sex=None).band == "low-risk"
    assert score_instrument("audit", [0] * 10, sex="female").band == "low-risk"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["phq9", "PHQ-9", "", None, 7])
def test_refuses_unknown_instrument(code):
    error = refusal(code, [0] * 9)
    assert (error.code, error.field) == ("unknown_instrument", "instrument")


@pytest.mark.parametrize("count", [8, 10, 0])
def test_refuses_wrong_answer_count(count):
    error = refusal("phq-9", [0] * count)
    assert (error.code, error.field) == ("wrong_answer_count", "answers")
    assert "9 items" in error.message


@pytest.mark.parametrize(
    ("code", "answers", "field", "item"),
    [
        ("phq-9", [0] * 8 + [4], "answers[8]", "item 9"),
        ("phq-9", [-1] + [0] * 8, "answers[0]", "item 1"),
        ("gad-7", [0] * 6 + [4], "answers[6]", "item 7"),
        ("audit", [0] * 8 + [1, 0], "answers[8]", "item 9"),
        ("audit", [0] * 9 + [3], "answers[9]", "item 10"),
        ("audit", [5] + [0] * 9, "answers[0]", "item 1"),
        ("audit-c", [0, 0, 5], "answers[2]", "item 3"),
        ("pacs", [0, 0, 0, 0, 7], "answers[4]", "item 5"),
        ("dast-10", [0, 0, 2] + [0] * 7, "answers[2]", "item 3"),
        ("cadss", [0] * 22 + [5], "answers[22]", "item 23"),
    ],
)
def test_refuses_answer_out_of_range_naming_the_item(code, answers, field, item):
    error = refusal(code, answers, sex="male")
    assert (error.code, error.field) == ("answer_out_of_range", field)
    assert item in error.message


@pytest.mark.parametrize("bad", [True, 1.0, "1", None])
def test_refuses_non_integer_answers(bad):
    error = refusal("gad-7", [0, bad, 0, 0, 0, 0, 0])
    assert (error.code, error.field) == ("invalid_answer", "answers[1]")


@pytest.mark.parametrize("answers", ["000000000", None, 5, {0: 1}])
def test_refuses_answers_that_are_not_a_list(answers):
    assert refusal("phq-9", answers).code == "invalid_answers"


def test_audit_c_requires_sex():
    error = refusal("audit-c", [1, 1, 1])
    assert (error.code, error.field) == ("sex_required", "sex")


@pytest.mark.parametrize("sex", ["other", "Male", "m", ""])
def test_audit_c_refuses_unknown_sex(sex):
    error = refusal("audit-c", [1, 1, 1], sex=sex)
    assert (error.code, error.field) == ("invalid_sex", "sex")


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_total_is_in_range_and_band_matches(data):
    definition = data.draw(st.sampled_from(instrument_definitions()))
    answers = [data.draw(st.sampled_from(item.allowed_values)) for item in definition.items]
    sex = data.draw(st.sampled_from(["male", "female"]))
    result = score_instrument(definition.code, answers, sex=sex)
    assert definition.total_min <= result.total <= definition.total_max
    if definition.total_counts_yes:
        assert result.total == sum(1 for score in result.item_scores if score > 0)
    else:
        assert result.total == sum(result.item_scores)
    bands = dict(definition.bands_by_sex).get(sex, definition.bands)
    if definition.rule_bands:
        assert result.band in {b.code for b in definition.rule_bands}
    elif bands:
        band = next(b for b in bands if b.code == result.band)
        assert band.min_total <= result.total <= band.max_total
    else:
        assert result.band is None


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_raising_one_answer_never_lowers_the_total(data):
    # DAST-10 has a reverse-scored item; the C-SSRS total counts yes answers (item 6: 1 → 2 stays 1).
    summed = [d for d in instrument_definitions() if d.code != "dast-10" and not d.total_counts_yes]
    definition = data.draw(st.sampled_from(summed))
    answers = [data.draw(st.sampled_from(item.allowed_values)) for item in definition.items]
    index = data.draw(st.integers(0, definition.item_count - 1))
    higher = [v for v in definition.items[index].allowed_values if v > answers[index]]
    if higher:
        raised = [*answers[:index], higher[0], *answers[index + 1 :]]
        before = score_instrument(definition.code, answers, sex="female").total
        assert score_instrument(definition.code, raised, sex="female").total > before


@settings(max_examples=80, deadline=None)
@given(
    code=st.sampled_from([d.code for d in instrument_definitions()] + ["x"]),
    answers=st.lists(st.one_of(st.integers(-3, 8), st.none(), st.booleans()), max_size=25),
    sex=st.sampled_from([None, "male", "female", "x"]),
)
def test_property_returns_a_score_or_raises_domain_error(code, answers, sex):
    try:
        result = score_instrument(code, answers, sex=sex)
    except DomainError as error:
        assert error.code in {
            "unknown_instrument",
            "wrong_answer_count",
            "answer_out_of_range",
            "invalid_answer",
            "sex_required",
            "invalid_sex",
        }
    else:
        assert result.instrument == code

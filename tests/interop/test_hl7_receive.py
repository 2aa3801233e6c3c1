"""Receiving ORU^R01 messages: real-world shapes, every ACK code, nothing written on refusal,
replay, the clinic boundary, alerts and the audit row with the device as the source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.interop.hl7.receive import MAX_MESSAGE_CHARS, receive_message
from kapstone.interop.models import Hl7Message
from kapstone.monitoring.models import Alert, Observation
from kapstone.monitoring.services import vitals_record
from tests.interop.conftest import (
    DIA,
    HR,
    MEAN,
    RESP,
    SPO2,
    SYS,
    TEMP,
    errors,
    hl7_time,
    msa,
    obx,
    oru,
    segments_of,
)

pytestmark = pytest.mark.django_db


def counts():
    return (
        Observation.objects.count(),
        Alert.objects.count(),
        Hl7Message.objects.count(),
        AuditEvent.objects.count(),
    )


def full_set(**values):
    v = {"spo2": 97, "hr": 72, "sys": 122, "dia": 78, "mean": 93, "resp": 14, "temp": "36.8"} | values
    return [
        obx(SPO2, v["spo2"]),
        obx(HR, v["hr"]),
        obx(SYS, v["sys"]),
        obx(DIA, v["dia"]),
        obx(MEAN, v["mean"]),
        obx(RESP, v["resp"]),
        obx(TEMP, v["temp"]),
    ]


def stored(session):
    """The session's observations from a feed (the fixtures' own are entered by hand)."""
    return {
        o.code: o for o in Observation.objects.filter(session=session).exclude(source="manual").order_by("pk")
    }


class TestAccepted:
    def test_a_full_set_is_stored_with_the_device_as_source_and_audited(self, monitor_a, running, clinic_a):
        at = timezone.now() - timedelta(seconds=30)
        before = counts()
        ack = receive_message(oru(*full_set(), at=at), clinic=clinic_a, actor=monitor_a)
        assert msa(ack) == ["MSA", "AA", "MSG0001"]
        # The mean pressure is not in our catalogue: skipped and said so, the rest stored.
        assert errors(ack) == [("unknown_code", "W")]
        rows = stored_any(running, "0012ABCD")
        assert {code: o.value for code, o in rows.items()} == {
            "spo2": Decimal(97),
            "heart_rate": Decimal(72),
            "systolic_bp": Decimal(122),
            "diastolic_bp": Decimal(78),
            "respiratory_rate": Decimal(14),
            "temperature": Decimal("36.8"),
        }
        assert {o.source for o in rows.values()} == {"0012ABCD"}  # OBX-18, the equipment instance
        assert {o.observed_at for o in rows.values()} == {at.replace(microsecond=0)}
        assert {o.entered_by_id for o in rows.values()} == {monitor_a.pk}
        audit = AuditEvent.objects.filter(object_type="observations", actor=monitor_a).get()
        assert audit.detail["source"] == "0012ABCD" and audit.detail["created"] == 6
        assert audit.patient_id == running.patient_id
        message = Hl7Message.objects.get()
        assert (message.sender, message.control_id, message.ack_code) == ("PHILIPS_IX|ICU", "MSG0001", "AA")
        assert (message.stored, message.skipped, message.dropped) == (6, 1, 0)
        assert message.ack_text == ack
        assert counts()[:3] == (before[0] + 6, before[1], before[2] + 1)

    def test_ack_header_answers_the_sender(self, monitor_a, running, clinic_a):
        ack = receive_message(oru(obx(SPO2, 97)), clinic=clinic_a, actor=monitor_a)
        msh = segments_of(ack)[0]
        assert msh[:6] == ["MSH", "^~\\&", "KAPSTONE", "a", "PHILIPS_IX", "ICU"]
        assert msh[8] == "ACK^R01^ACK" and msh[10] == "P" and msh[11] == "2.6"
        assert ack.endswith("\r") and errors(ack) == []

    def test_a_mindray_style_message_with_pid_repetitions_and_escapes(self, monitor_a, running, clinic_a):
        """PID-3 with the MRN in its second repetition, escaped separators in names and in the
        facility, optional fields absent, line ends \\n, two OBR groups with their own times and
        no OBX-14, the device tree's OBX rows without a value, and a LOINC-coded OBX."""
        first = timezone.now() - timedelta(minutes=3)
        second = timezone.now() - timedelta(minutes=1)
        message = "\n".join(
            [
                "MSH|^~\\&|MINDRAY_EGATEWAY^00A037009A0053DE^EUI-64|MINDRAY\\T\\CO\\F\\ICU|||"
                f"{hl7_time(second)}||ORU^R01^ORU_R01|91827|P|2.6|||AL|NE||UNICODE UTF-8|||"
                "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
                "PID|||8812^^^OTHERHOSP^PI~A-1001^^^Northside^MR||O\\S\\Brien\\E\\x^Avery^^^^^L",
                "PV1||I|ICU^^5",
                f"OBR|1|91827^EGW|91827^EGW|182777000^monitoring of patient^SCT|||{hl7_time(first)}",
                "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
                "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|96|262688^MDC_DIM_PERCENT^MDC|||||R",
                "OBX|3|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|64|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
                f"OBR|2|91827^EGW|91827^EGW|182777000^monitoring of patient^SCT|||{hl7_time(second)}",
                "OBX|4|NM|8310-5^Body temperature^LN||37.1|Cel^^UCUM|||||F",
                "OBX|5|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.4.1.150301|131|266016^MDC_DIM_MMHG^MDC|||||R",
                "OBX|6|NM|150302^MDC_PRESS_CUFF_DIA^MDC|1.4.1.150302|84|266016^MDC_DIM_MMHG^MDC|||||R",
            ]
        )
        ack = receive_message(message, clinic=clinic_a, actor=monitor_a)
        assert msa(ack) == ["MSA", "AA", "91827"], ack
        assert errors(ack) == []
        rows = stored_any(running, "MINDRAY_EGATEWAY")
        assert {c: (o.value, o.observed_at) for c, o in rows.items()} == {
            "spo2": (Decimal(96), first.replace(microsecond=0)),
            "heart_rate": (Decimal(64), first.replace(microsecond=0)),
            "temperature": (Decimal("37.1"), second.replace(microsecond=0)),
            "systolic_bp": (Decimal(131), second.replace(microsecond=0)),
            "diastolic_bp": (Decimal(84), second.replace(microsecond=0)),
        }
        # The sender is stored unescaped: the facility "MINDRAY&CO|ICU".
        assert Hl7Message.objects.get().sender == "MINDRAY_EGATEWAY|MINDRAY&CO|ICU"

    def test_crlf_line_ends_and_mllp_framing_are_tolerated(self, monitor_a, running, clinic_a):
        message = "\x0b" + oru(obx(SPO2, 95)).replace("\r", "\r\n") + "\x1c\r"
        ack = receive_message(message, clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA" and stored(running)["spo2"].value == 95

    def test_a_time_without_offset_is_the_clinics_wall_clock(self, monitor_a, running, clinic_a):
        # Clinic A is in New York: a naive OBX-14 is read there.
        at = (timezone.now() - timedelta(minutes=2)).replace(microsecond=0)
        local = at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).strftime("%Y%m%d%H%M%S")
        text = SPO2.replace("{t}", local).replace("{v}", "95")
        ack = receive_message(oru(text), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"
        assert stored(running)["spo2"].observed_at == at

    def test_sentinels_and_statuses_that_are_not_results_are_dropped(self, monitor_a, running, clinic_a):
        segments = [
            obx(SPO2, 8388607).replace("|R|||", "|X|||"),  # probe off: the NaN sentinel, status X
            obx(HR, 8388608),  # NRes
            obx(RESP, "-"),
            obx(SYS, 124).replace("|R|||", "|W|||"),  # posted as wrong
            obx(DIA, 77).replace("|R|||", "|D|||"),  # deleted
            obx(TEMP, "36.9"),
        ]
        ack = receive_message(oru(*segments), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA" and errors(ack) == []
        assert set(stored(running)) == {"temperature"}
        assert stored(running)["temperature"].source == "PHILIPS_IX"  # no OBX-18: MSH-3
        assert Hl7Message.objects.get().dropped == 5

    def test_a_message_with_only_no_values_is_accepted_and_stores_nothing(self, monitor_a, running, clinic_a):
        before = Observation.objects.count()
        ack = receive_message(oru(obx(SPO2, 8388607), obx(HR, "")), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"
        assert Observation.objects.count() == before
        assert Hl7Message.objects.get().stored == 0

    def test_unknown_codes_and_units_are_reported_and_the_rest_stored(self, monitor_a, running, clinic_a):
        segments = [
            obx(SPO2, 96),
            "NM|393216^NIBP_SYS^EHC||120|266016^MDC_DIM_MMHG^MDC|||||R|||{t}",
            "NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC||16|3872^kPa^UCUM|||||R|||{t}",
            "NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||ninety|262688^MDC_DIM_PERCENT^MDC|||||R|||{t}",
            "NM|147842^MDC_ECG_HEART_RATE^MDC||70|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||2026",
        ]
        ack = receive_message(oru(*segments), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"
        assert errors(ack) == [
            ("unknown_code", "W"),
            ("unknown_unit", "W"),
            ("invalid_value", "W"),
            ("invalid_time", "W"),
        ]
        locations = [s[2] for s in segments_of(ack) if s[0] == "ERR"]
        assert locations == ["OBX^2", "OBX^3", "OBX^4", "OBX^5"]
        assert set(stored(running)) == {"spo2"}

    def test_a_desaturation_raises_the_alert_the_api_raises(self, monitor_a, nina, running, clinic_a):
        ack = receive_message(oru(obx(SPO2, 88)), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"
        alert = Alert.objects.get(session=running, resolved_at__isnull=True, code="hypoxemia")
        assert (alert.severity, alert.message) == ("critical", "SpO2 88 % < 90 %.")
        audit = AuditEvent.objects.filter(object_type="observations", actor=monitor_a).get()
        assert audit.detail["alerts"] == ["hypoxemia"]

    def test_a_nurse_account_may_feed_too(self, nina, running, clinic_a):
        ack = receive_message(oru(obx(SPO2, 97)), clinic=clinic_a, actor=nina)
        assert msa(ack)[1] == "AA"


def stored_any(session, source):
    return {o.code: o for o in Observation.objects.filter(session=session, source=source).order_by("pk")}


class TestRefused:
    def _refused(self, message, *, clinic, actor, ack_code, code):
        before = counts()
        ack = receive_message(message, clinic=clinic, actor=actor)
        assert msa(ack)[1] == ack_code, ack
        assert errors(ack)[0] == (code, "E")
        assert counts() == before, "a refused message wrote rows"
        return ack

    def test_an_unknown_mrn_is_unknown_patient(self, monitor_a, running, clinic_a):
        ack = self._refused(
            oru(obx(SPO2, 97), mrn="A-9999"),
            clinic=clinic_a,
            actor=monitor_a,
            ack_code="AE",
            code="unknown_patient",
        )
        assert msa(ack)[2] == "MSG0001"
        assert "A-9999" not in ack

    def test_another_clinics_mrn_is_unknown_patient_and_leaks_nothing(
        self, monitor_a, running, clinic_a, patient_b
    ):
        ack = self._refused(
            oru(obx(SPO2, 97), mrn=patient_b.mrn),
            clinic=clinic_a,
            actor=monitor_a,
            ack_code="AE",
            code="unknown_patient",
        )
        assert patient_b.mrn not in ack and patient_b.family_name not in ack
        assert ack.count("|") == receive_message(
            oru(obx(SPO2, 97), mrn="A-9999", control_id="X"), clinic=clinic_a, actor=monitor_a
        ).count("|")

    def test_a_monitor_of_another_clinic_cannot_feed_this_one(self, running, clinic_a, clinic_b):
        from kapstone.accounts.models import Role
        from tests.conftest import make_user

        other = make_user("monitor.b", clinic_b, Role.MONITOR)
        self._refused(
            oru(obx(SPO2, 97)), clinic=clinic_a, actor=other, ack_code="AE", code="clinician_required"
        )

    def test_no_pid_is_unknown_patient(self, monitor_a, running, clinic_a):
        self._refused(
            oru(obx(SPO2, 97), pid="PID|||"),
            clinic=clinic_a,
            actor=monitor_a,
            ack_code="AE",
            code="unknown_patient",
        )

    def test_a_patient_without_a_session_in_progress_is_no_active_session(
        self, monitor_a, cleared_session, clinic_a
    ):
        # Checked in and cleared, not yet dosing: the feed records from the start of dosing.
        self._refused(
            oru(obx(SPO2, 97)), clinic=clinic_a, actor=monitor_a, ack_code="AE", code="no_active_session"
        )

    def test_an_implausible_value_refuses_the_whole_batch(self, monitor_a, running, clinic_a):
        ack = self._refused(
            oru(obx(SPO2, 150), obx(HR, 70)),
            clinic=clinic_a,
            actor=monitor_a,
            ack_code="AE",
            code="implausible_value",
        )
        assert "SpO2 150 % is not possible" in ack

    def test_a_time_in_the_future_is_implausible(self, monitor_a, running, clinic_a):
        later = timezone.now() + timedelta(hours=2)
        text = SPO2.replace("{t}", hl7_time(later)).replace("{v}", "97")
        self._refused(oru(text), clinic=clinic_a, actor=monitor_a, ack_code="AE", code="implausible_value")

    def test_two_patients_in_one_message_are_refused(self, monitor_a, running, clinic_a):
        message = (
            oru(obx(SPO2, 97)) + "PID|||A-2002^^^Northside^MR\rOBX|1|" + obx(HR, 70).replace("{t}", "") + "\r"
        )
        self._refused(message, clinic=clinic_a, actor=monitor_a, ack_code="AE", code="multiple_patients")

    def test_a_failure_inside_is_an_ae_with_a_code_not_a_traceback(self, monitor_a, running, clinic_a):
        clinic_a.timezone = "Not/AZone"  # a clinic misconfigured: the zone cannot be loaded
        ack = self._refused(
            oru(obx(SPO2, 97)), clinic=clinic_a, actor=monitor_a, ack_code="AE", code="internal_error"
        )
        assert "Traceback" not in ack

    @pytest.mark.parametrize(
        ("message", "code"),
        [
            ("hello", "unparseable_message"),
            ("", "unparseable_message"),
            ("MSH", "unparseable_message"),
            ("PID|||A-1001\rOBX|1|NM|150456^^MDC||97", "unparseable_message"),
            ("MSH|^~\\&|X|Y|||20260101||ORU^R01|||2.6\rPID|||A-1001", "unparseable_message"),  # no MSH-10
            ("MSH|^~\\&|X|Y|||20260101||ADT^A01|C1|P|2.6\rPID|||A-1001", "unsupported_message_type"),
            ("MSH|^~\\&|X|Y|||20260101||ORU^R30|C1|P|2.6\rPID|||A-1001", "unsupported_message_type"),
            ("MSH|^~\\&|X|Y|||20260101||ORU^R01|C1|P|3.0\rPID|||A-1001", "unsupported_version"),
            ("MSH|^~\\&|X|Y|||20260101||ORU^R01|C1\x00|P|2.6", "unparseable_message"),
        ],
    )
    def test_what_cannot_be_read_is_ar(self, monitor_a, running, clinic_a, message, code):
        self._refused(message, clinic=clinic_a, actor=monitor_a, ack_code="AR", code=code)

    def test_ar_echoes_the_control_id_when_it_was_read(self, monitor_a, running, clinic_a):
        ack = receive_message(
            "MSH|^~\\&|X|Y|||20260101||ADT^A01|C77|P|2.6\r", clinic=clinic_a, actor=monitor_a
        )
        assert msa(ack) == ["MSA", "AR", "C77"]

    def test_a_message_too_large_is_ar(self, monitor_a, running, clinic_a):
        message = oru(obx(SPO2, 97)) + "NTE|1||" + "x" * MAX_MESSAGE_CHARS + "\r"
        self._refused(message, clinic=clinic_a, actor=monitor_a, ack_code="AR", code="message_too_large")

    def test_not_text_is_ar(self, monitor_a, running, clinic_a):
        self._refused(
            b"MSH|^~\\&|", clinic=clinic_a, actor=monitor_a, ack_code="AR", code="unparseable_message"
        )


class TestReplay:
    def test_a_second_copy_gets_the_same_ack_and_stores_nothing(self, monitor_a, running, clinic_a):
        message = oru(obx(SPO2, 88), obx(HR, 70))
        first = receive_message(message, clinic=clinic_a, actor=monitor_a)
        after_first = counts()
        again = receive_message(message, clinic=clinic_a, actor=monitor_a)
        assert again == first
        assert counts() == after_first
        assert Alert.objects.filter(code="hypoxemia").count() == 1

    def test_the_same_control_id_from_another_sender_is_another_message(self, monitor_a, running, clinic_a):
        receive_message(oru(obx(SPO2, 97)), clinic=clinic_a, actor=monitor_a)
        ack = receive_message(oru(obx(SPO2, 96), sender="GE_CARESCAPE|ICU"), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"
        assert Hl7Message.objects.count() == 2
        assert Observation.objects.filter(session=running, code="spo2", value=96).count() == 1

    def test_a_replay_from_outside_the_clinic_gets_no_stored_ack(self, monitor_a, carol, running, clinic_a):
        message = oru(obx(SPO2, 97))
        receive_message(message, clinic=clinic_a, actor=monitor_a)
        ack = receive_message(message, clinic=clinic_a, actor=carol)
        assert msa(ack)[1] == "AE" and errors(ack) == [("clinician_required", "E")]

    def test_a_refused_message_is_not_remembered(self, monitor_a, running, clinic_a):
        refused = receive_message(oru(obx(SPO2, 150), control_id="R1"), clinic=clinic_a, actor=monitor_a)
        assert msa(refused)[1] == "AE"
        # The sender corrects the value and sends under the same id: it is read afresh.
        ack = receive_message(oru(obx(SPO2, 95), control_id="R1"), clinic=clinic_a, actor=monitor_a)
        assert msa(ack)[1] == "AA"


def test_a_batch_refused_by_the_ingest_stores_no_replay_record(monitor_a, running, clinic_a):
    # The replay record is written in the batch's transaction: the ingest's refusal undoes it.
    vitals_record(
        actor=monitor_a,
        session=running,
        observations=[{"code": "spo2", "value": 97, "observed_at": datetime.now(UTC)}],
        source="x",
    )
    before = Hl7Message.objects.count()
    receive_message(oru(obx(SPO2, 97), obx(DIA, 130), obx(SYS, 120)), clinic=clinic_a, actor=monitor_a)
    assert Hl7Message.objects.count() == before

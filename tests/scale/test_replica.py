"""The research report and exports read from a real streaming replica; everything else, and
every write, stays on the primary.

The proof is a difference the replica cannot fake: replay is paused on the replica, a course is
enrolled on the primary, and the export counts the replica's courses (not the primary's) while
the patient list shows the new patient; the export's audit event and disclosure row land on the
primary. Once replay resumes, the export counts the new course too.
"""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from tests.scale.conftest import run_kapstone

# One private pair (and one `migrate`, the slow part) per run: with `--dist loadgroup` the tests
# of tests/scale go to one xdist worker together.
pytestmark = pytest.mark.xdist_group("private_pg_pair")

REPLAY_TIMEOUT_S = 30


def probe(pair, *args: str):
    return run_kapstone(pair.env, "tests.scale.replica_probe", *args)


def get(pair, *paths: str) -> list[dict]:
    answers = json.loads(probe(pair, "get", *paths))
    assert [a["status"] for a in answers] == [200] * len(paths), [a["body"][:300] for a in answers]
    return answers


def study_ids(csv_text: str) -> set[str]:
    rows = csv.reader(
        io.StringIO("\n".join(line for line in csv_text.splitlines() if not line.startswith("#")))
    )
    header = next(rows)
    assert header[0] == "study_id"
    return {row[0] for row in rows}


def count(server, sql: str) -> int:
    with server.connect() as conn:
        return conn.execute(sql).fetchone()[0]


def pause_replay(pair) -> None:
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            assert time.monotonic() < deadline, "replay did not pause"
            time.sleep(0.05)


def resume_replay(pair) -> None:
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


EXPORTS = "SELECT count(*) FROM audit_auditevent WHERE object_type = 'research_export'"
DISCLOSURES = "SELECT count(*) FROM audit_disclosure"
COURSES = "SELECT count(*) FROM care_treatmentcourse"


def test_research_reads_the_replica_and_writes_the_primary(pair):
    probe(pair, "enrol", "0", "1", "2")
    pair.wait_replayed(REPLAY_TIMEOUT_S)
    pause_replay(pair)
    try:
        probe(pair, "enrol", "3")  # the fourth course: on the primary only while replay is paused
        assert count(pair.primary, COURSES) == 4
        assert count(pair.replica, COURSES) == 3
        exports_before, disclosures_before = count(pair.primary, EXPORTS), count(pair.primary, DISCLOSURES)

        export, report, patients = get(pair, "/research/export/long.csv", "/research/", "/patients/")

        # The research reads came from the replica: three courses, not four.
        assert len(study_ids(export["body"])) == 3
        # The report says how old its data is, in words.
        assert "Data as of " in report["body"]
        assert " behind)" in report["body"]
        # A clinical page in the same process reads the primary: the new patient is listed.
        assert "Vorpalindex003" in patients["body"]
        # The export's audit event and its disclosure row were written to the primary.
        assert count(pair.primary, EXPORTS) == exports_before + 1
        assert count(pair.primary, DISCLOSURES) == disclosures_before + 1
        # … and not yet to the paused replica.
        assert count(pair.replica, EXPORTS) == exports_before
    finally:
        resume_replay(pair)

    pair.wait_replayed(REPLAY_TIMEOUT_S)
    export, report = get(pair, "/research/export/long.csv", "/research/")
    assert len(study_ids(export["body"])) == 4
    assert "less than a minute behind" in report["body"]
    assert count(pair.primary, EXPORTS) == exports_before + 2


def test_research_reads_the_primary_when_the_replica_is_down(pair):
    probe(pair, "enrol", "10")
    courses = count(pair.primary, COURSES)
    pair.replica.stop()
    try:
        export, report = get(pair, "/research/export/long.csv", "/research/")
    finally:
        pair.replica.start()
    assert len(study_ids(export["body"])) == courses
    assert "could not be reached: this report reads the live records instead" in report["body"]

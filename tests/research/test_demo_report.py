"""Issue 6: "the demo has enough follow-up data that the cohort report for each shipped protocol
shows a curve and a comparison with its trial" — checked on the seeded demo, per clinic and
protocol, for the clinic admin (exact numbers) and the researcher (small counts protected)."""

from __future__ import annotations

import pytest

from kapstone.accounts.models import Clinic, User
from kapstone.demo.seed import seed_demo
from kapstone.domain.protocols import protocol_library
from kapstone.patients.services import clinic_today
from kapstone.research.cohorts import CohortFilter
from kapstone.research.selectors import cohort_report_for_user

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]


def curves(figure: dict) -> list[list[float]]:
    return [t["y"] for t in figure["data"] if t.get("showlegend", True) is not False and "fill" not in t]


def test_every_shipped_protocol_shows_a_curve_and_the_trial_comparison_in_the_demo():
    seed_demo(patients_per_clinic=12)
    for clinic in Clinic.objects.order_by("slug"):
        today = clinic_today(clinic)
        admin = User.objects.get(username=f"admin.{clinic.slug}")
        researcher = User.objects.get(username=f"researcher.{clinic.slug}")
        for protocol in protocol_library():
            where = f"{clinic.slug} {protocol.slug}"
            exact = cohort_report_for_user(
                user=admin, filters=CohortFilter(protocol_slug=protocol.slug), today=today
            )
            # A Kaplan–Meier curve that falls (relapses seen after the acute phase).
            assert exact.km_figure is not None, where
            assert any(min(y) < 1 for y in curves(exact.km_figure)), where
            # The clinic's own abstinence, with its interval, beside the trial's published result.
            shown = [g for g in exact.abstinence if g["proportion"] is not None]
            assert shown and all(g["ci_lower"] <= g["proportion"] <= g["ci_upper"] for g in shown), where
            (published,) = exact.published
            assert published.protocol_slug == protocol.slug and published.arms, where
            assert exact.abstinence_time, where

            # The researcher, per protocol: a curve too (its drops coarsened to blocks of 11).
            coarse = cohort_report_for_user(
                user=researcher,
                filters=CohortFilter(protocol_slug=protocol.slug, group_by="protocol"),
                today=today,
            )
            assert coarse.suppressed and coarse.km_figure is not None, where
            assert coarse.published, where

"""Consent in serving: no decision support for a patient who opted out of it (FHIR Consent, DECISION_SUPPORT).

``consented`` wraps every insight engine so it declines for an opted-out patient (``store/consent.py`` answers, with
a short cache): no Insight, hence no CDS card and nothing on the dashboard but the notice that decision support is off
at the patient's request.
"""

from __future__ import annotations

from collections.abc import Sequence

from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.insights.service import InsightContext, InsightProvider

OPTED_OUT = "the patient opted out of AI decision support"


class ConsentedProvider:
    """An insight engine that declines for patients who opted out of decision support."""

    def __init__(self, inner: InsightProvider, consent: ConsentDirectory) -> None:
        self.inner = inner
        self.consent = consent
        self.name = inner.name

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        """The inner engine's answer, or one Declined when the patient opted out."""
        if not self.consent.allows(profile.patient_id, ConsentScope.DECISION_SUPPORT):
            return [Declined(patient_id=profile.patient_id, engine=self.name, reason=OPTED_OUT)]
        return self.inner.insights(profile, context)


def consented(providers: Sequence[InsightProvider], consent: ConsentDirectory) -> list[InsightProvider]:
    """Every provider wrapped so it honours the DECISION_SUPPORT opt-out."""
    return [ConsentedProvider(p, consent) for p in providers]

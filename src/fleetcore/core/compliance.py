"""The shape of a compliance answer, shared by vehicles, drivers and the fleet summary.

Compliance is computed, never stored: each rule says whether it passes and, in words a fleet
manager understands, why not. Domains compute their own rules and return these types.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class RuleStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a rule outcome, not a password
    FAIL = "fail"
    WARNING = "warning"  # passes today, fails soon (e.g. a document expiring within 30 days)
    NOT_APPLICABLE = "not_applicable"


class RuleResult(BaseModel):
    """One compliance rule applied to one vehicle or driver."""

    rule: str = Field(
        description="Stable rule code, e.g. `insurance_active`.", examples=["insurance_active"]
    )
    status: RuleStatus
    reason: str = Field(description="Why the rule passes or fails, for people.")
    related_id: uuid.UUID | None = Field(
        default=None, description="The document, insurance, training… the rule looked at."
    )


class ComplianceReport(BaseModel):
    """Every rule for one subject at one instant; compliant when no rule fails."""

    subject_type: str = Field(examples=["vehicle"])
    subject_id: uuid.UUID
    evaluated_at: datetime
    compliant: bool
    rules: list[RuleResult]

    @classmethod
    def of(
        cls, subject_type: str, subject_id: uuid.UUID, at: datetime, rules: list[RuleResult]
    ) -> ComplianceReport:
        """A report whose ``compliant`` flag follows from its rules."""
        return cls(
            subject_type=subject_type,
            subject_id=subject_id,
            evaluated_at=at,
            compliant=all(r.status is not RuleStatus.FAIL for r in rules),
            rules=rules,
        )

    @property
    def failures(self) -> list[RuleResult]:
        """The failing rules."""
        return [r for r in self.rules if r.status is RuleStatus.FAIL]

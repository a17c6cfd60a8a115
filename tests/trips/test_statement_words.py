"""A statement says a payment's state in the driver's language, never as a code word."""

from __future__ import annotations

import pytest

from fleetcore.finance.models import DriverPaymentStatus
from fleetcore.trips.statement_render import LABELS


@pytest.mark.parametrize("language", sorted(LABELS))
def test_every_payment_state_has_words_in_every_language(language: str) -> None:
    words = LABELS[language]
    for status in DriverPaymentStatus:
        if status is DriverPaymentStatus.PAID:
            assert words["paid"]
            continue
        said = words[f"payment_{status.value}"]  # a word for each state, in each language
        assert said
        if language != "en":  # the code word (English) never shows through
            assert status.value not in said.lower(), (language, status, said)
    assert set(LABELS[language]) == set(LABELS["en"])

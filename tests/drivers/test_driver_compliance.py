"""Driver compliance: every rule passes on a compliant driver and each fails on its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from drivers_support import AT, TODAY, World
from sqlalchemy import event, text

from fleetcore.core.compliance import RuleStatus
from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.errors import NotFound
from fleetcore.core.orm import new_id
from fleetcore.drivers import service


def _statuses(world: World, driver_id: object) -> dict[str, RuleStatus]:
    report = service.driver_compliance(world.session, world.actor, driver_id, AT)  # type: ignore[arg-type]
    worst: dict[str, RuleStatus] = {}
    rank = {RuleStatus.NOT_APPLICABLE: 0, RuleStatus.PASS: 1, RuleStatus.WARNING: 2,
            RuleStatus.FAIL: 3}
    for rule in report.rules:
        if rule.rule not in worst or rank[rule.status] > rank[worst[rule.rule]]:
            worst[rule.rule] = rule.status
    return worst


def test_a_compliant_driver_passes_every_rule(world: World) -> None:
    driver = world.driver()
    world.document(driver)
    world.training(driver)
    report = service.driver_compliance(world.session, world.actor, driver, AT)
    assert report.compliant, report.failures
    assert report.subject_type == "driver"
    assert {r.rule for r in report.rules} == {
        "licence_valid", "professional_card_valid", "required_documents", "minimum_age",
        "minimum_licence_years", "mandatory_training", "no_active_blacklist",
    }
    assert all(r.status is RuleStatus.PASS for r in report.rules), report.rules


@pytest.mark.parametrize(("values", "rule"), [
    ({"licence_expires_on": date(2026, 11, 1), "licence_issued_on": date(2010, 1, 1)},
     "licence_valid"),
    ({"licence_number": None, "licence_expires_on": None}, "licence_valid"),
    ({"professional_card_expires_on": date(2026, 1, 1)}, "professional_card_valid"),
    ({"professional_card_number": None}, "professional_card_valid"),
    ({"date_of_birth": date(2006, 1, 1)}, "minimum_age"),
    ({"date_of_birth": None}, "minimum_age"),
    ({"licence_issued_on": date(2024, 6, 1)}, "minimum_licence_years"),
    ({"licence_issued_on": None}, "minimum_licence_years"),
])
def test_each_driver_field_rule_fails_alone(
    world: World, values: dict[str, object], rule: str
) -> None:
    driver = world.driver(**values)
    statuses = _statuses(world, driver)
    assert statuses[rule] is RuleStatus.FAIL
    assert [r for r, s in statuses.items() if s is RuleStatus.FAIL] == [rule]


def test_expiring_within_30_days_is_a_warning(world: World) -> None:
    driver = world.driver(licence_expires_on=TODAY + timedelta(days=20),
                          professional_card_expires_on=TODAY + timedelta(days=30))
    world.document(driver, expires_on=TODAY + timedelta(days=5))
    world.training(driver, expires_on=TODAY + timedelta(days=10))
    report = service.driver_compliance(world.session, world.actor, driver, AT)
    assert report.compliant
    warned = {r.rule for r in report.rules if r.status is RuleStatus.WARNING}
    assert warned == {"licence_valid", "professional_card_valid", "required_documents",
                      "mandatory_training"}


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"status": "pending"}, "pending"),
    ({"status": "rejected", "reason": "blurred"}, "rejected: blurred"),
    ({"expires_on": date(2026, 11, 24)}, "expired"),
])
def test_required_document_rule_fails(world: World, kwargs: dict[str, object],
                                      fragment: str) -> None:
    driver = world.driver()
    doc = world.document(driver, **kwargs)  # type: ignore[arg-type]
    report = service.driver_compliance(world.session, world.actor, driver, AT)
    [failure] = report.failures
    assert failure.rule == "required_documents"
    assert failure.related_id == doc
    assert fragment in failure.reason


def test_optional_documents_do_not_count(world: World) -> None:
    driver = world.driver()
    world.document(driver, requirement="optional", status="pending")
    assert service.driver_compliance(world.session, world.actor, driver, AT).compliant


def test_deleted_required_document_fails(world: World) -> None:
    driver = world.driver()
    doc = world.document(driver)
    world.session.execute(text("UPDATE doc_documents SET deleted_at = now() WHERE id = :id"),
                          {"id": doc})
    [failure] = service.driver_compliance(world.session, world.actor, driver, AT).failures
    assert "deleted" in failure.reason


@pytest.mark.parametrize("values", [
    {"status": "in_progress", "completed_on": None},
    {"status": "failed", "completed_on": None},
    {"expires_on": date(2026, 6, 1)},
])
def test_mandatory_training_fails(world: World, values: dict[str, object]) -> None:
    driver = world.driver()
    world.training(driver, **values)
    [failure] = service.driver_compliance(world.session, world.actor, driver, AT).failures
    assert failure.rule == "mandatory_training"


def test_retaken_training_counts_and_optional_training_is_ignored(world: World) -> None:
    driver = world.driver()
    world.training(driver, expires_on=date(2026, 6, 1))
    world.training(driver, completed_on=date(2026, 7, 1), expires_on=date(2028, 7, 1))
    world.training(driver, training_name="Eco", training_type="optional", status="failed",
                   completed_on=None)
    assert service.driver_compliance(world.session, world.actor, driver, AT).compliant


def test_active_blacklist_fails_but_lifted_future_past_and_deleted_do_not(world: World) -> None:
    driver = world.driver()
    entry = world.blacklist(driver)
    [failure] = service.driver_compliance(world.session, world.actor, driver, AT).failures
    assert (failure.rule, failure.related_id) == ("no_active_blacklist", entry)

    clean = world.driver(phone=None, last_name="Clean")
    world.blacklist(clean, status="lifted", lifted_at=AT, lift_reason="appeal won")
    world.blacklist(clean, starts_at=AT + timedelta(days=3))
    world.blacklist(clean, starts_at=AT - timedelta(days=30), ends_at=AT - timedelta(days=1))
    world.blacklist(clean, deleted_at=AT)
    assert service.driver_compliance(world.session, world.actor, clean, AT).compliant


def test_country_without_card_requirement_makes_the_rule_not_applicable(world: World) -> None:
    bind_context(world.session, DbContext.system())
    world.session.execute(text(
        "UPDATE dir_country_regulations SET professional_card_required = false,"
        " min_driver_age = NULL, min_licence_years = NULL WHERE country = 'MT'"))
    world.as_tenant()
    driver = world.driver(professional_card_number=None, date_of_birth=None,
                          licence_issued_on=None)
    statuses = _statuses(world, driver)
    assert statuses["professional_card_valid"] is RuleStatus.NOT_APPLICABLE
    assert statuses["minimum_age"] is RuleStatus.NOT_APPLICABLE
    assert statuses["minimum_licence_years"] is RuleStatus.NOT_APPLICABLE


def test_regulation_is_the_one_in_force_at_the_instant(world: World) -> None:
    driver = world.driver(professional_card_number=None)
    before = datetime(2019, 6, 1, tzinfo=UTC)
    report = service.driver_compliance(world.session, world.actor, driver, before)
    card = next(r for r in report.rules if r.rule == "professional_card_valid")
    assert card.status is RuleStatus.NOT_APPLICABLE
    assert "No ride-hailing regulation" in card.reason


def test_unknown_deleted_and_foreign_drivers_are_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        service.driver_compliance(world.session, world.actor, new_id(), AT)
    deleted = world.driver(deleted_at=AT)
    with pytest.raises(NotFound):
        service.driver_compliance(world.session, world.actor, deleted, AT)
    world.as_tenant(world.other_tenant_id)
    with pytest.raises(NotFound):
        service.driver_compliance(world.session, world.actor, world.drivers[0], AT)


def test_many_drivers_in_a_constant_number_of_queries(world: World) -> None:
    def count_queries(n: int) -> int:
        ids = []
        for i in range(n):
            d = world.driver(last_name=f"N{i}-{n}")
            world.document(d)
            world.training(d)
            world.blacklist(d)
            ids.append(d)
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = world.session.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            reports = service.drivers_compliance(world.session, world.actor, ids, AT)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert set(reports) == set(ids)
        assert all(not r.compliant for r in reports.values())
        return len(statements)

    assert count_queries(1) == count_queries(20) == 4
    everyone = service.drivers_compliance(world.session, world.actor, None, AT)
    assert set(everyone) == set(world.drivers)
    assert service.drivers_compliance(world.session, world.actor, [], AT) == {}

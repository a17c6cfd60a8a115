"""availability_conflicts and lock_driver: what the fleet and scheduling services call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from drivers_support import AT, World

from fleetcore.core.errors import NotFound
from fleetcore.core.orm import new_id
from fleetcore.drivers import service
from fleetcore.scheduling import driver_decisions_service

DEC1 = datetime(2026, 12, 1, tzinfo=UTC)
DEC8 = datetime(2026, 12, 8, tzinfo=UTC)


def test_a_free_driver_has_no_conflicts(world: World) -> None:
    driver = world.driver()
    world.leave(driver, DEC1, DEC8, status="pending")
    world.leave(driver, DEC1, DEC8, status="rejected")
    assert service.availability_conflicts(world.session, driver, DEC1, DEC8) == []
    assert service.availability_conflicts(world.session, driver, DEC1, None) == []


def test_approved_leave_overlapping_conflicts(world: World) -> None:
    driver = world.driver()
    world.leave(driver, DEC1, DEC8)
    inside = service.availability_conflicts(world.session, driver, DEC1 + timedelta(days=1),
                                            DEC1 + timedelta(days=1, hours=8))
    assert len(inside) == 1
    assert "approved leave" in inside[0]
    assert service.availability_conflicts(world.session, driver, AT, None)  # open-ended
    # Touching periods do not overlap: [start, end).
    assert service.availability_conflicts(world.session, driver, DEC8,
                                          DEC8 + timedelta(hours=8)) == []
    assert service.availability_conflicts(world.session, driver, DEC1 - timedelta(hours=8),
                                          DEC1) == []


def test_active_blacklist_conflicts_until_lifted_or_ended(world: World) -> None:
    driver = world.driver()
    world.blacklist(driver, starts_at=DEC1, ends_at=DEC8)
    [reason] = service.availability_conflicts(world.session, driver, AT, None)
    assert "blacklisted (fraud)" in reason
    assert service.availability_conflicts(world.session, driver, AT, DEC1) == []
    assert service.availability_conflicts(world.session, driver, DEC8, None) == []
    lifted = world.driver(last_name="Lifted")
    world.blacklist(lifted, status="lifted", lifted_at=AT, lift_reason="appeal")
    world.blacklist(lifted, deleted_at=AT)
    assert service.availability_conflicts(world.session, lifted, AT, None) == []


def test_lock_driver_returns_the_live_row_and_hides_the_rest(world: World) -> None:
    driver = world.driver()
    assert service.lock_driver(world.session, driver).id == driver
    with pytest.raises(NotFound):
        service.lock_driver(world.session, new_id())
    with pytest.raises(NotFound):
        service.lock_driver(world.session, world.driver(last_name="Gone", deleted_at=AT))
    world.as_tenant(world.other_tenant_id)
    with pytest.raises(NotFound):
        service.lock_driver(world.session, driver)


def test_approving_a_vehicle_change_needs_the_assignment_permission(world: World) -> None:
    from dataclasses import replace

    from drivers_support import insert

    from fleetcore.core.auth import PermissionDenied
    from fleetcore.drivers.models import DriverRequestStatus

    driver = world.driver()
    request = insert(world.session, "rid_driver_requests", tenant_id=world.tenant_id,
                     driver_id=driver, request_type="vehicle_change", status="under_review",
                     details="{}")
    actor = replace(world.actor, permissions=frozenset({"driver_requests:write"}))
    with pytest.raises(PermissionDenied):
        driver_decisions_service.transition_driver_request(world.session, actor, request,
                                                           DriverRequestStatus.APPROVED)

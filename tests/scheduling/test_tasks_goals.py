"""Tasks (state machine, assignee, filters, system dedup) and goals (progress by hand)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scheduling_support import World, insert
from sqlalchemy import event, text

from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.errors import Conflict, ValidationProblem
from fleetcore.core.pagination import PageParams
from fleetcore.scheduling import service
from fleetcore.scheduling.filters import GoalFilter, TaskFilter
from fleetcore.scheduling.schemas import GoalCreate, GoalUpdate, TaskCreate, TaskUpdate
from fleetcore.tasks import system

PARIS = ZoneInfo("Europe/Paris")

# --- tasks ---------------------------------------------------------------------------------


def _task(world: World, **values: Any) -> Any:
    return service.create_task(world.session, world.actor,
                               data=TaskCreate(**{"title": "Check tyres", **values}))


def _move(world: World, task: Any, status: str) -> Any:
    return service.update_task(world.session, world.actor, task.id,
                               data=TaskUpdate(status=status))


def test_task_state_machine(world: World) -> None:
    task = _task(world)
    assert task.status == "open"
    assert task.source == "manual"
    with pytest.raises(Conflict) as refused:
        _move(world, task, "done")
    assert "in_progress" in refused.value.detail
    assert _move(world, task, "in_progress").status == "in_progress"
    assert _move(world, task, "blocked").status == "blocked"
    with pytest.raises(Conflict):
        _move(world, task, "done")
    _move(world, task, "in_progress")
    done = _move(world, task, "done")
    assert done.completed_at is not None
    with pytest.raises(Conflict, match="final"):
        _move(world, task, "open")
    other = _task(world)
    assert _move(world, other, "cancelled").completed_at is None


def test_the_assignee_must_be_a_member_of_the_tenant(world: World) -> None:
    with pytest.raises(ValidationProblem) as unknown:
        _task(world, assignee_id=uuid.uuid4())
    assert unknown.value.errors[0]["field"] == "assignee_id"
    task = _task(world, assignee_id=world.member_id)
    assert task.assignee_id == world.member_id
    unassigned = service.update_task(world.session, world.actor, task.id,
                                     data=TaskUpdate(assignee_id=None))
    assert unassigned.assignee_id is None


def test_related_entity_comes_in_pairs(world: World) -> None:
    with pytest.raises(ValidationProblem):
        _task(world, related_entity_type="document")


def test_task_filters(world: World) -> None:
    soon = datetime.now(UTC) + timedelta(days=1)
    urgent = _task(world, priority="urgent", due_at=soon, assignee_id=world.member_id,
                   task_type="maintenance")
    _task(world, priority="low", due_at=soon + timedelta(days=10))
    _move(world, _task(world, priority="urgent"), "in_progress")

    def ids(**filters: Any) -> list[uuid.UUID]:
        rows, _ = service.list_tasks(world.session, world.actor, PageParams(),
                                     TaskFilter(**filters))
        return [r.id for r in rows]

    assert ids(priority="urgent", status="open") == [urgent.id]
    assert ids(assignee_id=world.member_id) == [urgent.id]
    assert ids(due_before=soon + timedelta(days=2)) == [urgent.id]
    assert ids(task_type="maintenance") == [urgent.id]
    assert len(ids()) == 3


def test_tasks_sort_by_due_date_across_pages(world: World) -> None:
    """``sort="due"``: soonest due first, undated last, and the cursor walks that order
    without losing or repeating a task (dated and undated ones straddle the pages)."""
    now = datetime.now(UTC)
    made = [_task(world, title=f"T{n}", due_at=now + timedelta(days=d) if d is not None else None)
            for n, d in enumerate([5, None, 1, 3, None, 1, 8])]
    expected = [t.id for t in sorted(made, key=lambda t: (
        t.due_at or datetime.max.replace(tzinfo=UTC), t.id))]
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        rows, cursor = service.list_tasks(world.session, world.actor,
                                          PageParams(limit=2, cursor=cursor),
                                          TaskFilter(sort="due"))
        seen += [r.id for r in rows]
        if cursor is None:
            break
    assert seen == expected
    assert next(t.title for t in made if t.id == seen[-1]) in ("T1", "T4")


def test_ensure_task_is_idempotent_on_its_dedup_key(world: World) -> None:
    first, created = system.ensure_task(
        world.session, tenant_id=world.tenant_id, dedup_key="document_verification:42",
        title="Verify the licence", task_type="document_verification",
        related_entity_type="document", related_entity_id=uuid.uuid4())
    again, created_again = system.ensure_task(
        world.session, tenant_id=world.tenant_id, dedup_key="document_verification:42",
        title="Verify the licence")
    assert created
    assert not created_again
    assert again.id == first.id
    assert first.source == "system"
    count = world.session.execute(text(
        "SELECT count(*) FROM sch_tasks WHERE dedup_key = 'document_verification:42'")).scalar()
    assert count == 1
    # Deleted, the key is free again.
    service.delete_task(world.session, world.actor, first.id)
    _, created_after_delete = system.ensure_task(
        world.session, tenant_id=world.tenant_id, dedup_key="document_verification:42",
        title="Verify the licence")
    assert created_after_delete
    with pytest.raises(Conflict):
        service.restore_task(world.session, world.actor, first.id)


# --- goals ---------------------------------------------------------------------------------

NOV = datetime(2026, 11, 1, tzinfo=PARIS)
DEC = datetime(2026, 12, 1, tzinfo=PARIS)


def _platform(world: World) -> uuid.UUID:
    bind_context(world.session, DbContext.system())
    platform = insert(world.session, "dir_platforms", code=f"p{uuid.uuid4().hex[:8]}",
                      name="Test platform")
    bind_context(world.session, DbContext.for_tenant(world.tenant_id))
    return platform


def _trip(world: World, platform: uuid.UUID, driver: uuid.UUID, vehicle: uuid.UUID,
          started: datetime, net: str, km: str, status: str = "completed",
          currency: str = "EUR") -> None:
    insert(world.session, "trp_trips", tenant_id=world.tenant_id, platform_id=platform,
           external_trip_id=uuid.uuid4().hex, driver_id=driver, vehicle_id=vehicle,
           status=status, started_at=started, ended_at=started + timedelta(minutes=20),
           net_earnings=Decimal(net), distance_km=Decimal(km), currency=currency)


def _goal(world: World, **values: Any) -> Any:
    data = {"scope": "tenant", "metric": "trips", "target": "10", "period_start": NOV,
            "period_end": DEC, **values}
    return service.create_goal(world.session, world.actor, data=GoalCreate(**data))


def test_goal_progress_equals_hand_computed_values(world: World) -> None:
    platform = _platform(world)
    d1, d2 = world.driver(), world.driver(first_name="Ben")
    v1, v2 = world.vehicle(), world.vehicle()
    _trip(world, platform, d1, v1, NOV + timedelta(days=2), "45.50", "12.5")
    _trip(world, platform, d1, v1, NOV + timedelta(days=9), "30.25", "7.5")
    _trip(world, platform, d1, v1, NOV + timedelta(days=10), "5.00", "0", "cancelled_by_rider")
    _trip(world, platform, d1, v2, NOV + timedelta(days=11), "20.00", "2.0", currency="GBP")
    _trip(world, platform, d1, v1, DEC + timedelta(days=1), "100.00", "40.0")  # after period
    _trip(world, platform, d2, v2, NOV + timedelta(days=3), "10.00", "3.0")
    for start, rating in ((NOV, "4.80"), (NOV + timedelta(days=7), "4.60"),
                          (NOV - timedelta(days=7), "3.00")):
        insert(world.session, "rid_driver_performances", tenant_id=world.tenant_id,
               driver_id=d1, period_start=start, period_end=start + timedelta(days=7),
               average_rating=Decimal(rating), currency="EUR")
    revenue_d1 = _goal(world, scope="driver", scope_id=d1, metric="revenue", target="161.50",
                       currency="EUR")
    revenue_all = _goal(world, metric="revenue", target="100", currency="EUR")
    trips_d1 = _goal(world, scope="driver", scope_id=d1)
    trips_all = _goal(world)
    distance_v1 = _goal(world, scope="vehicle", scope_id=v1, metric="distance", target="100")
    rating_d1 = _goal(world, scope="driver", scope_id=d1, metric="rating", target="4.5")
    goals, _ = service.list_goals(world.session, world.actor, PageParams(), GoalFilter())
    value = {g.id: g.current_value for g in goals}
    assert value[revenue_d1.id] == Decimal("80.75")  # 45.50 + 30.25 + 5.00 (EUR only)
    assert value[revenue_all.id] == Decimal("90.75")
    assert value[trips_d1.id] == 3  # completed, any currency
    assert value[trips_all.id] == 4
    assert value[distance_v1.id] == Decimal("20.0")  # 12.5 + 7.5 (completed)
    assert value[rating_d1.id] == Decimal("4.70")  # (4.80 + 4.60) / 2, October excluded
    stored = world.session.execute(text(
        "SELECT current_value, computed_at FROM sch_goals WHERE id = :id"),
        {"id": revenue_d1.id}).one()
    assert stored.current_value == Decimal("80.75")
    assert stored.computed_at is not None


def test_utilisation_is_the_share_of_the_period_the_vehicle_was_assigned(world: World) -> None:
    driver, vehicle = world.driver(), world.vehicle()
    start, end = NOV, NOV + timedelta(days=10)
    insert(world.session, "flt_vehicle_assignments", tenant_id=world.tenant_id,
           vehicle_id=vehicle, driver_id=driver, starts_at=NOV + timedelta(days=1),
           ends_at=NOV + timedelta(days=3, hours=12), assignment_type="temporary",
           status="ended")
    insert(world.session, "flt_vehicle_assignments", tenant_id=world.tenant_id,
           vehicle_id=vehicle, driver_id=driver, starts_at=NOV + timedelta(days=8),
           assignment_type="permanent", status="active")
    goal = _goal(world, scope="vehicle", scope_id=vehicle, metric="utilisation", target="80",
                 period_start=start, period_end=end)
    computed = service.get_goal(world.session, world.actor, goal.id)
    assert computed.current_value == Decimal("45.00")  # (2.5 + 2) days of 10


def test_goal_progress_is_one_query_per_page(world: World) -> None:
    driver = world.driver()
    for _ in range(6):
        _goal(world, scope="driver", scope_id=driver, metric="revenue", target="1",
              currency="EUR")
    statements: list[str] = []
    engine = world.session.get_bind()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        goals, _ = service.list_goals(world.session, world.actor, PageParams(), GoalFilter())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(goals) == 6
    assert len(statements) == 3  # the page, the progress of all, the store of the changed


def test_goal_validation(world: World) -> None:
    with pytest.raises(ValidationProblem) as no_currency:
        _goal(world, metric="revenue")
    assert no_currency.value.errors[0]["field"] == "currency"
    with pytest.raises(ValidationProblem) as tenant_with_id:
        _goal(world, scope_id=uuid.uuid4())
    assert tenant_with_id.value.errors[0]["field"] == "scope_id"
    with pytest.raises(ValidationProblem) as unknown_driver:
        _goal(world, scope="driver", scope_id=uuid.uuid4())
    assert unknown_driver.value.errors[0]["field"] == "scope_id"
    with pytest.raises(ValidationProblem):
        _goal(world, period_end=NOV)
    goal = _goal(world)
    updated = service.update_goal(world.session, world.actor, goal.id,
                                  data=GoalUpdate(target=Decimal("20")))
    assert updated.target == Decimal("20")


def test_every_task_entity_type_names_a_tenant_table() -> None:
    from fleetcore.catalogue import import_all_models
    from fleetcore.core.orm import Base
    from fleetcore.tasks.models import TASK_ENTITY_TABLES, TaskEntityType

    import_all_models()
    assert set(TASK_ENTITY_TABLES) == set(TaskEntityType)
    for name, soft_deleted in TASK_ENTITY_TABLES.values():
        columns = Base.metadata.tables[name].c
        assert "tenant_id" in columns, name
        assert ("deleted_at" in columns) is soft_deleted, name

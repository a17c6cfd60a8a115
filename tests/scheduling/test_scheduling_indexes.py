"""The scheduling and maintenance list queries are index-backed: with sequential scans priced
out (``enable_seqscan = off``), EXPLAIN shows no ``Seq Scan`` on any table they read. At test
scale the planner would happily seq-scan tiny tables, so this proves an index *exists* for
every access path, which is what keeps them fast at demo scale and beyond."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from scheduling_support import World
from sqlalchemy import Select, text

from fleetcore.fleet import maintenance_service
from fleetcore.scheduling import service
from fleetcore.scheduling.filters import GoalFilter, ShiftFilter, TaskFilter
from fleetcore.scheduling.models import Goal


def _plan(world: World, statement: Select[Any] | str, params: dict[str, Any] | None = None
          ) -> str:
    world.session.execute(text("SET LOCAL enable_seqscan = off"))
    connection = world.session.connection()
    if isinstance(statement, str):
        sql, bound = statement, params or {}
    else:
        compiled = statement.compile(dialect=connection.dialect,
                                     compile_kwargs={"render_postcompile": True})
        sql, bound = str(compiled), compiled.params
    rows = connection.exec_driver_sql("EXPLAIN " + sql, bound).all()
    return "\n".join(r[0] for r in rows)


def test_list_queries_use_indexes(world: World) -> None:
    driver = world.driver()
    vehicle = world.vehicle()
    plans = {
        "due list": _plan(world, maintenance_service.due_query(
            world.session, world.actor, due_status=["overdue"], today=date(2026, 11, 25))),
        "shifts by driver": _plan(world, service.shifts_query(world.actor, ShiftFilter(
            driver_id=driver, starts_from=datetime(2026, 11, 1, tzinfo=UTC),
            starts_to=datetime(2026, 12, 1, tzinfo=UTC)))),
        "shifts by vehicle": _plan(world, service.shifts_query(
            world.actor, ShiftFilter(vehicle_id=vehicle))),
        "tasks by assignee": _plan(world, service.tasks_query(world.actor, TaskFilter(
            assignee_id=world.member_id, status="open"))),
        "goals": _plan(world, service.goals_query(world.actor, GoalFilter(scope="driver"))),
    }
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"


def test_goal_progress_uses_indexes(world: World) -> None:
    goal = Goal(tenant_id=world.tenant_id, scope="tenant", metric="trips", target=1,
                period_start=datetime(2026, 11, 1, tzinfo=UTC),
                period_end=datetime(2026, 12, 1, tzinfo=UTC))
    world.session.add(goal)
    world.session.flush()
    sql = str(service._PROGRESS_SQL.compile(dialect=world.session.connection().dialect))
    plan = _plan(world, sql, {"tenant_id": world.tenant_id, "ids": [goal.id],
                              "now": datetime.now(UTC)})
    assert "Seq Scan" not in plan, plan

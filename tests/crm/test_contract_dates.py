"""Signed contracts follow their dates: active from ``starts_on``, expired after ``ends_on``,
by the nightly job; terminated and unsigned contracts are left alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from crm_support import Headers, made
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.jobs import queue
from fleetcore.crm import service
from fleetcore.worker import import_tasks


def _signed(client: TestClient, staff: Headers, contract: dict[str, Any]) -> None:
    made(client.post(f"/v1/crm/contracts/{contract['id']}/sign",
                     headers={**staff, "If-Match": f'"{contract["version"]}"'}))


def _statuses(db: Session, *contracts: dict[str, Any]) -> list[str]:
    ids = [c["id"] for c in contracts]
    rows = dict(db.execute(text("SELECT CAST(id AS text), status FROM crm_contracts"
                                " WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}).all())
    return [rows[i] for i in ids]


def test_contracts_become_active_then_expired_on_their_dates(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]],
    system_db: Session,
) -> None:
    year = deal(starts_on="2026-05-01", ends_on="2027-04-30")
    open_ended = deal(starts_on="2026-06-01")
    unsigned = deal(starts_on="2026-05-01", ends_on="2026-05-31")
    for contract in (year, open_ended):
        _signed(client, staff, contract)

    def night(day: date) -> list[str]:
        service.advance_contracts(system_db, today=day)
        return _statuses(system_db, year, open_ended, unsigned)

    assert night(date(2026, 4, 30)) == ["signed", "signed", "draft"]
    assert night(date(2026, 5, 1)) == ["active", "signed", "draft"]
    assert night(date(2026, 5, 1)) == ["active", "signed", "draft"]  # a replay moves nothing
    assert night(date(2026, 6, 1)) == ["active", "active", "draft"]
    assert night(date(2027, 4, 30)) == ["active", "active", "draft"]  # its last day
    assert night(date(2027, 5, 1)) == ["expired", "active", "draft"]
    # The moves are versioned like any change (If-Match of a later edit sees them).
    [version] = system_db.execute(text("SELECT version FROM crm_contracts WHERE id = :i"),
                                  {"i": year["id"]}).scalars().all()
    assert version > year["version"]


def test_a_contract_past_its_end_when_signed_expires_and_terminated_ones_stay(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]],
    system_db: Session,
) -> None:
    late = deal(starts_on="2026-01-01", ends_on="2026-03-31")
    ended = deal(starts_on="2026-01-01")
    for contract in (late, ended):
        _signed(client, staff, contract)
    current = made(client.get(f"/v1/crm/contracts/{ended['id']}", headers=staff), 200)
    made(client.patch(f"/v1/crm/contracts/{ended['id']}",
                      headers={**staff, "If-Match": f'"{current["version"]}"'},
                      json={"status": "terminated", "termination_reason": "Fleet sold"}), 200)
    moved = service.advance_contracts(system_db, today=date(2026, 4, 1))
    assert _statuses(system_db, late, ended) == ["expired", "terminated"]
    assert moved.expired >= 1


def test_the_nightly_job_is_registered_with_its_schedule() -> None:
    import_tasks()
    task = queue.tasks["fleetcore.advance_contracts"]
    assert [p.cron for p in queue.periodic_registry.periodic_tasks.values()
            if p.task is task] == ["25 2 * * *"]

"""Each platform transaction counts once, even when two imports of it commit at the same moment.

Two files with the same 1,000 Uber transactions (LF and CRLF line endings: different hashes,
so neither is refused as the same file) are committed by two real transactions at once. Both
validate before either writes (a barrier in front of the write), so neither sees the other's
rows: the database's unique transaction key is what keeps the second from counting them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match
from fleetcore.app import storage_for
from fleetcore.core.auth import ALL_PERMISSIONS, Actor
from fleetcore.core.db import ActorType, DbContext, context_session
from fleetcore.revenue import service
from fleetcore.settings import Settings
from fleetcore.trips import settlement_service

DRIVER = "7c0e9a52-3d1f-4b6a-9e21-5a4b3c2d1e0f"
HEADER = ("transaction UUID,Driver UUID,Driver first name,Driver surname,Trip UUID,Description,"
          "Organisation name,Org alias,vs reporting,Paid to you,Paid to you : Your earnings,"
          "Paid to you : Your earnings : Fare,Paid to you:Your earnings:Fare:Fare,"
          "Paid to you:Your earnings:Service fee")
COUNT = 1000


def _week_file(newline: str) -> bytes:
    rows = [
        f"{uuid.UUID(int=n + 1)},{DRIVER},Karim,Martin,trip-{n:04d},trip completed order,"
        f"Lumiere VTC,lumiere,2026-11-{17 + n % 4} {8 + n % 10:02d}:{n % 60:02d}:00 CET,"
        "8.00,8.00,10.00,10.00,-2.00"
        for n in range(COUNT)]
    return newline.join([HEADER, *rows, ""]).encode("utf-8")


def _actor(world: TenantWorld) -> Actor:
    owner = world.people["owner"]
    return Actor(type=ActorType.MEMBER, id=owner.member_id, clerk_user_id=owner.user_id,
                 tenant_id=world.id, tenant_status="active",
                 permissions=frozenset({ALL_PERMISSIONS}))


def test_two_files_of_the_same_transactions_committed_at_once_count_once(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any, revenue_settings: Settings,
    read_system: Callable[..., list[Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = make_tenant()
    headers = auth(world)
    driver = rclient.post("/v1/drivers", headers=headers, json={
        "first_name": "Karim", "last_name": "Martin", "phone": "+33611223344"}).json()["id"]
    linked = rclient.post("/v1/platform-accounts", headers=headers, json={
        "platform": "uber", "external_account_id": DRIVER, "driver_id": driver})
    assert linked.status_code == 201, linked.text
    imports = []
    for newline, name in (("\n", "week-lf.csv"), ("\r\n", "week-crlf.csv")):
        uploaded = rclient.post("/v1/revenue-imports", headers=headers, data={"currency": "EUR"},
                                files={"file": (name, _week_file(newline), "text/csv")})
        assert uploaded.status_code == 201, uploaded.text
        (imp,) = uploaded.json()["imports"]
        assert imp["rows_valid"] == COUNT
        imports.append(uuid.UUID(imp["id"]))

    actor = _actor(world)
    storage = storage_for(revenue_settings)
    context = DbContext.for_tenant(world.id, actor_type=ActorType.MEMBER, actor_id=actor.id)
    both_validated = threading.Barrier(2, timeout=60)
    write = service._write

    def write_after_both_validated(*args: Any, **kwargs: Any) -> dict[str, int]:
        both_validated.wait()
        return write(*args, **kwargs)

    monkeypatch.setattr(service, "_write", write_after_both_validated)
    outcomes: dict[uuid.UUID, Any] = {}

    def commit(import_id: uuid.UUID) -> None:
        try:
            with context_session(sessions, context) as session:
                imp = service.commit_import(session, actor, storage, import_id)
                outcomes[import_id] = (imp.status, imp.rows_valid, imp.rows_duplicate)
        except Exception as exc:  # the outcome is what the test reads
            outcomes[import_id] = exc

    threads = [threading.Thread(target=commit, args=(i,)) for i in imports]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        monkeypatch.undo()

        committed = [i for i, o in outcomes.items() if isinstance(o, tuple)]
        refused = [o for o in outcomes.values() if not isinstance(o, tuple)]
        assert len(committed) == 1, outcomes
        assert outcomes[committed[0]] == ("committed", COUNT, 0)
        # The loser wrote nothing and says why; validated again, its rows are duplicates.
        assert len(refused) == 1
        assert isinstance(refused[0], service.TransactionsCommittedMeanwhile), refused[0]
        assert refused[0].status == 409
        (loser,) = set(imports) - set(committed)
        again = rclient.post(f"/v1/revenue-imports/{loser}/validate", headers=if_match(
            rclient, f"/v1/revenue-imports/{loser}/validate", headers))
        assert again.status_code == 200, again.text
        assert (again.json()["rows_valid"], again.json()["rows_duplicate"]) == (0, COUNT)

        stored = read_system(
            "SELECT count(*) AS n, count(DISTINCT external_transaction_id) AS distinct_n"
            " FROM rev_import_rows WHERE tenant_id = :t", t=world.id)[0]
        assert (stored.n, stored.distinct_n) == (COUNT, COUNT)
        with context_session(sessions, context) as session:
            (settlement,) = settlement_service.compute_settlements(
                session, actor, period=date(2026, 11, 17))
            assert settlement.gross == Decimal(10 * COUNT)
            assert settlement.commission == Decimal(2 * COUNT)
    finally:
        monkeypatch.undo()
        # Leave nothing committed behind: the winner's rows, trips, revenues and drafts go.
        with context_session(sessions, context) as session:
            for import_id in imports:
                if service.get_import(session, actor, import_id).status == "committed":
                    service.rollback_import(session, actor, import_id)

"""The audit trail is written by the database for every mutation, whoever writes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.orm import new_id

NOT_AUDITED = {
    "adm_audit_logs", "adm_idempotency_keys", "adm_notifications", "adm_webhook_deliveries",
    "adm_number_sequences", "adm_email_suppressions",
    # GPS telemetry written by the Traccar receiver once per vehicle and minute (migration 0018).
    "flt_gps_track",
    # Help-desk conversations no fleet claims: a mirror of webhook deliveries (migration 0023),
    # written only by the receiver, read by staff; the deliveries themselves are the record.
    "sup_unrouted_conversations",
}


def _tenant(db: Session) -> uuid.UUID:
    bind_context(db, DbContext.system())
    tenant = new_id()
    db.execute(
        text(
            "INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
            " VALUES (:id, 'Audit Cabs', :slug, 'FR', 'EUR', 'Europe/Paris')"
        ),
        {"id": tenant, "slug": f"audit-{tenant.hex[:8]}"},
    )
    return tenant


def _audit(db: Session, entity_id: uuid.UUID) -> list[Any]:
    return list(
        db.execute(
            text(
                "SELECT action, actor_type, actor_id, changes, request_id, host(ip) AS ip,"
                " user_agent, tenant_id FROM adm_audit_logs WHERE entity_id = :id"
                " ORDER BY occurred_at, action"
            ),
            {"id": entity_id},
        )
    )


def test_every_table_but_bookkeeping_is_audited(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        tables = set(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version' AND tablename NOT LIKE 'procrastinate%'"
                )
            ).scalars()
        )
        audited = set(
            conn.execute(
                text(
                    "SELECT tgrelid::regclass::text FROM pg_trigger"
                    " WHERE tgname ~ '_audit(_insert|_update|_delete)?$'"
                )
            ).scalars()
        )
    assert tables - audited == NOT_AUDITED


def test_create_update_delete_restore_are_recorded_with_actor_and_changed_fields(
    db: Session,
) -> None:
    tenant = _tenant(db)
    member = new_id()
    bind_context(
        db,
        DbContext(tenant_id=tenant, actor_type=ActorType.MEMBER, actor_id=member,
                  request_id="req-42", ip="203.0.113.9", user_agent="pytest"),
    )
    driver = new_id()
    db.execute(
        text("INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, licence_number)"
             " VALUES (:t, :id, 'Ana', 'Silva', 'LIC-SECRET')"),
        {"t": tenant, "id": driver},
    )
    db.execute(text("UPDATE rid_drivers SET notes = 'late twice' WHERE id = :id"), {"id": driver})
    db.execute(text("UPDATE rid_drivers SET notes = notes WHERE id = :id"), {"id": driver})
    db.execute(text("UPDATE rid_drivers SET deleted_at = now() WHERE id = :id"), {"id": driver})
    db.execute(text("UPDATE rid_drivers SET deleted_at = NULL WHERE id = :id"), {"id": driver})

    rows = _audit(db, driver)
    assert [r.action for r in rows] == ["create", "update", "delete", "restore"]
    create, update = rows[0], rows[1]
    assert {(r.actor_type, r.actor_id, r.request_id, r.ip, r.user_agent, r.tenant_id)
            for r in rows} == {("member", member, "req-42", "203.0.113.9", "pytest", tenant)}
    assert update.changes == {"notes": {"before": None, "after": "late twice"}}
    assert create.changes["first_name"] == {"before": None, "after": "Ana"}
    # Secrets are redacted, not left out: the change is visible, the value is not.
    assert create.changes["licence_number"]["after"] == "[redacted]"
    assert "LIC-SECRET" not in str([r.changes for r in rows])


def test_bulk_writes_are_audited_once_per_statement(db: Session) -> None:
    tenant = _tenant(db)
    bind_context(db, DbContext.for_tenant(tenant, request_id="import-1"))
    platform = db.execute(text("SELECT id FROM dir_platforms LIMIT 1")).scalar()
    if platform is None:
        bind_context(db, DbContext.system())
        platform = new_id()
        db.execute(text("INSERT INTO dir_platforms (id, code, name) VALUES (:id, 'zz', 'Z')"),
                   {"id": platform})
        bind_context(db, DbContext.for_tenant(tenant, request_id="import-1"))
    db.execute(
        text(
            "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status)"
            " SELECT :t, gen_random_uuid(), :p, 'trip-' || g, 'completed'"
            " FROM generate_series(1, 500) g"
        ),
        {"t": tenant, "p": platform},
    )
    rows = db.execute(
        text("SELECT action, changes, request_id FROM adm_audit_logs"
             " WHERE entity_type = 'trp_trips' AND tenant_id = :t"),
        {"t": tenant},
    ).all()
    assert [(r.action, r.changes, r.request_id) for r in rows] == [
        ("bulk_insert", {"rows": 500}, "import-1")
    ]


def _trips_audited_by_the_statement(
    db: Session, tenant: uuid.UUID, platform: object, *, rows: int, claimed: int,
    token: str, covering_request: str | None = "import-2",
) -> list[tuple[str, dict[str, Any]]]:
    """One statement writing ``rows`` trips and its own audit row claiming ``claimed`` of them
    (token ``token``); what the audit trail then holds for those trips' tenant."""
    db.execute(
        text(
            "WITH written AS ("
            "  INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status)"
            "  SELECT :t, gen_random_uuid(), :p, CAST(gen_random_uuid() AS text), 'completed'"
            "    FROM generate_series(1, :rows) g RETURNING 1)"
            " INSERT INTO adm_audit_logs (id, tenant_id, actor_type, action, entity_type,"
            "   changes, request_id, occurred_at)"
            " SELECT gen_random_uuid(), :t, 'system', 'import_trips', 'trp_trips',"
            "   jsonb_build_object('statement', CAST(:token AS text), 'rows',"
            "     jsonb_build_object('trp_trips.insert', :claimed)),"
            "   CAST(:request AS text), statement_timestamp()"
            "  FROM (SELECT count(*) FROM written) w"
        ),
        {"t": tenant, "p": platform, "rows": rows, "claimed": claimed, "token": token,
         "request": covering_request},
    )
    return [
        (r.action, r.changes)
        for r in db.execute(
            text("SELECT action, changes FROM adm_audit_logs WHERE tenant_id = :t"
                 " AND entity_type = 'trp_trips' ORDER BY occurred_at, action"),
            {"t": tenant},
        )
    ]


def _platform(db: Session, tenant: uuid.UUID, request_id: str) -> object:
    platform = db.execute(text("SELECT id FROM dir_platforms LIMIT 1")).scalar()
    if platform is None:
        bind_context(db, DbContext.system())
        platform = new_id()
        db.execute(text("INSERT INTO dir_platforms (id, code, name) VALUES (:id, 'zz', 'Z')"),
                   {"id": platform})
    bind_context(db, DbContext.for_tenant(tenant, request_id=request_id))
    return platform


def test_a_statement_that_audits_itself_exactly_is_not_audited_twice(db: Session) -> None:
    """Migration 0029: with the statement's token set, a row of the same statement, actor and
    request that counts exactly what the trigger sees stands for the trigger's own."""
    tenant = _tenant(db)
    platform = _platform(db, tenant, "import-2")
    db.execute(text("SELECT set_config('fleetcore.audit_statement', 'stmt-1', true)"))
    trail = _trips_audited_by_the_statement(db, tenant, platform, rows=3, claimed=3,
                                            token="stmt-1")
    assert trail == [("import_trips", {"statement": "stmt-1", "rows": {"trp_trips.insert": 3}})]


def test_nothing_escapes_the_trail_unless_covered_in_every_respect(db: Session) -> None:
    """A wrong count, no token, another token, another request, or a row of an earlier
    statement: the trigger writes its own row as well."""
    tenant = _tenant(db)
    platform = _platform(db, tenant, "import-2")
    own = ("bulk_insert", {"rows": 3})

    def statement(token: str, **kwargs: Any) -> int:
        """The trigger's own rows in the trail after one more statement."""
        kwargs.setdefault("claimed", 3)
        trail = _trips_audited_by_the_statement(db, tenant, platform, rows=3, token=token,
                                                **kwargs)
        return trail.count(own)

    assert statement("t") == 1  # no token set in the transaction
    db.execute(text("SELECT set_config('fleetcore.audit_statement', 't', true)"))
    assert statement("t", claimed=2) == 2  # counts fewer rows than were written
    assert statement("t", covering_request="another-request") == 3  # another request's row
    assert statement("another-token") == 4  # not the statement's token
    assert statement("t") == 4  # covered in every respect: nothing more
    # The row just written (token "t", three trips) covers nothing in a later statement:
    # this one's own row claims none, so only the earlier row could have matched.
    assert statement("t", claimed=0) == 5

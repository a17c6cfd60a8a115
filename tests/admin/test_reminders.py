"""Reminders: one notification per item, threshold and recipient, however often they run."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.jobs import run_reminders
from fleetcore.admin.notifications import language_for, render_notification
from fleetcore.admin.reminders import ReminderSettings
from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.orm import new_id

TODAY = date(2026, 11, 25)


def _insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


def _document(session: Session, tenant: uuid.UUID, entity_type: str, entity: uuid.UUID,
              kind: str, expires_on: date) -> uuid.UUID:
    return _insert(
        session, "doc_documents", tenant_id=tenant, entity_type=entity_type, entity_id=entity,
        document_type=kind, file_name="scan.pdf", storage_backend="local",
        storage_key=f"k/{uuid.uuid4()}", mime_type="application/pdf", size_bytes=10,
        sha256="0" * 64, expires_on=expires_on,
    )


@pytest.fixture
def fleet(db: Session) -> dict[str, uuid.UUID]:
    """A tenant in Paris with one item due for every kind of reminder on TODAY."""
    bind_context(db, DbContext.system())
    tenant = _insert(
        db, "adm_tenants", name="Remind Cabs", slug=f"remind-{uuid.uuid4().hex[:8]}",
        country="FR", default_currency="EUR", timezone="Europe/Paris",
        contact_email="office@remind.test",
    )
    bind_context(db, DbContext.for_tenant(tenant))
    ids: dict[str, uuid.UUID] = {"tenant": tenant}
    make = _insert(db, "dir_car_makes", tenant_id=tenant, name=f"Make {uuid.uuid4().hex[:6]}")
    vehicle = _insert(db, "flt_vehicles", tenant_id=tenant, make_id=make, licence_plate="AB-123-CD",
                      country="FR", year=2022, fuel_type="hybrid", ownership_type="owned")
    driver = _insert(db, "rid_drivers", tenant_id=tenant, first_name="Ana", last_name="Silva",
                     email="ana@remind.test", preferred_language="fr")
    no_mail = _insert(db, "rid_drivers", tenant_id=tenant, first_name="Bo", last_name="Li")
    ids |= {"vehicle": vehicle, "driver": driver}
    ids["licence_7d"] = _document(db, tenant, "driver", driver, "driver_licence",
                                  TODAY + timedelta(days=7))
    # 5 days left and no reminder yet: the 7-day step is reached (caught up), once.
    ids["card_5d"] = _document(db, tenant, "driver", driver, "professional_card",
                               TODAY + timedelta(days=5))
    ids["far"] = _document(db, tenant, "driver", no_mail, "id_card", TODAY + timedelta(days=40))
    ids["registration_expired"] = _document(db, tenant, "vehicle", vehicle, "registration",
                                            TODAY - timedelta(days=2))
    # Renewed: a newer licence of the same driver expires later, so no reminder.
    ids["old_licence"] = _document(db, tenant, "driver", no_mail, "driver_licence",
                                   TODAY + timedelta(days=1))
    _document(db, tenant, "driver", no_mail, "driver_licence", TODAY + timedelta(days=900))
    ids["insurance"] = _insert(
        db, "flt_vehicle_insurances", tenant_id=tenant, vehicle_id=vehicle, provider="AXA",
        policy_number="P-1", coverage_type="all_risks", currency="EUR",
        starts_on=TODAY - timedelta(days=350), ends_on=TODAY + timedelta(days=14),
    )
    ids["schedule_km"] = _insert(
        db, "sch_maintenance_schedules", tenant_id=tenant, vehicle_id=vehicle,
        maintenance_type="oil_change", interval_km=15000, next_due_km=60000,
        reminder_lead_km=1000,
    )
    ids["schedule_date"] = _insert(
        db, "sch_maintenance_schedules", tenant_id=tenant, vehicle_id=vehicle,
        maintenance_type="inspection", interval_days=365, next_due_on=TODAY - timedelta(days=1),
    )
    _insert(db, "flt_odometer_readings", tenant_id=tenant, vehicle_id=vehicle,
            read_at=f"{TODAY - timedelta(days=1)}T10:00:00+00", odometer_km=59500,
            source="manual")
    ids["training"] = _insert(
        db, "rid_driver_training", tenant_id=tenant, driver_id=driver, training_name="Safety",
        training_type="mandatory", scheduled_on=TODAY + timedelta(days=1),
    )
    ids["shift"] = _insert(
        db, "sch_shifts", tenant_id=tenant, driver_id=driver, vehicle_id=vehicle,
        # 00:30 in Paris tomorrow is still 'tomorrow' there (23:30 UTC today).
        starts_at=f"{TODAY}T23:30:00+00", ends_at=f"{TODAY + timedelta(days=1)}T08:00:00+00",
    )
    _insert(db, "sch_shifts", tenant_id=tenant, driver_id=driver,
            starts_at=f"{TODAY + timedelta(days=2)}T08:00:00+00",
            ends_at=f"{TODAY + timedelta(days=2)}T16:00:00+00")
    ids["fine"] = _insert(
        db, "fin_traffic_fines", tenant_id=tenant, vehicle_id=vehicle, fine_reference="F-42",
        offence_at=f"{TODAY - timedelta(days=30)}T10:00:00+00", amount=135, currency="EUR",
        designation_deadline_on=TODAY + timedelta(days=3),
    )
    return ids


def _notifications(db: Session) -> set[tuple[str, uuid.UUID, str | None, str]]:
    rows = db.execute(text(
        "SELECT reason, entity_id, threshold, recipient_type FROM adm_notifications"
    ))
    return {tuple(r) for r in rows}  # type: ignore[misc]


def test_each_item_and_threshold_is_notified_once_however_often_reminders_run(
    db: Session, fleet: dict[str, uuid.UUID]
) -> None:
    tenant = fleet["tenant"]
    first = run_reminders(db, tenant, today=TODAY)
    second = run_reminders(db, tenant, today=TODAY)
    assert second.total_notifications == 0
    assert second.total_tasks == 0

    made = _notifications(db)
    expected = {
        ("document_expiring", fleet["licence_7d"], "7d", "driver"),
        ("document_expiring", fleet["licence_7d"], "7d", "external"),
        ("document_expiring", fleet["card_5d"], "7d", "driver"),
        ("document_expiring", fleet["card_5d"], "7d", "external"),
        ("document_expiring", fleet["registration_expired"], "0d", "external"),
        ("insurance_renewal", fleet["insurance"], "14d", "external"),
        ("maintenance_due", fleet["schedule_km"], "due_soon:-/60000.0", "external"),
        ("maintenance_due", fleet["schedule_date"], f"overdue:{TODAY - timedelta(days=1)}/-",
         "external"),
        ("training_due", fleet["training"], f"1d:{TODAY + timedelta(days=1)}", "driver"),
        ("training_due", fleet["training"], f"1d:{TODAY + timedelta(days=1)}", "external"),
        ("shift_tomorrow", fleet["shift"], "1d", "driver"),
        ("fine_designation_deadline", fleet["fine"], "3d", "external"),
    }
    assert made == expected
    assert first.total_notifications == len(expected)

    tasks = db.execute(text(
        "SELECT related_entity_type, related_entity_id, task_type, source FROM sch_tasks"
    )).all()
    assert {(t[0], t[1]) for t in tasks} == {
        ("document", fleet["licence_7d"]), ("document", fleet["card_5d"]),
        ("document", fleet["registration_expired"]), ("vehicle_insurance", fleet["insurance"]),
        ("maintenance_schedule", fleet["schedule_km"]),
        ("maintenance_schedule", fleet["schedule_date"]),
        ("driver_training", fleet["training"]), ("traffic_fine", fleet["fine"]),
    }
    assert first.total_tasks == len(tasks)
    assert {t[3] for t in tasks} == {"system"}

    # One e-mail job per new notification, deferred in this same transaction.
    jobs = db.execute(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'fleetcore.send_notification'"
        " AND args ->> 'tenant_id' = :t"), {"t": str(tenant)}).scalar_one()
    assert jobs == len(expected)

    # A week later the licence reaches its expiry-day step: one new reminder per recipient,
    # and no second task for the same expiry.
    later = run_reminders(db, tenant, today=TODAY + timedelta(days=7))
    assert ("document_expiring", fleet["licence_7d"], "0d", "driver") in _notifications(db)
    assert later.tasks["document_expiring"] == 0


def test_idempotency_keys_are_unique_and_stable(db: Session, fleet: dict[str, uuid.UUID]) -> None:
    run_reminders(db, fleet["tenant"], today=TODAY)
    keys = db.execute(text("SELECT idempotency_key FROM adm_notifications")).scalars().all()
    assert len(keys) == len(set(keys))
    assert all(k.startswith("ntf_") and len(k) == 68 for k in keys)


def test_tenant_settings_change_the_ladder() -> None:
    settings = ReminderSettings.from_tenant(
        {"reminders": {"document_days": [3, 60, 3], "staff_email": "ops@x.test"}}, "c@x.test"
    )
    assert settings.document_days == [60, 3]
    assert settings.staff_email == "ops@x.test"
    assert ReminderSettings.from_tenant({}, "c@x.test").document_days == [30, 14, 7, 1, 0]
    assert ReminderSettings.from_tenant({"reminders": {"document_days": "x"}}, None
                                        ).staff_email is None


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    ("reason", "variables"),
    [
        ("document_expiring", {"document_type": "driver_licence", "about": "Ana <b>Silva</b>",
                               "days": 7}),
        ("insurance_renewal", {"plate": "AB-123-CD", "provider": "AXA", "policy_number": "P-1",
                               "days": 14}),
        ("maintenance_due", {"plate": "AB-123-CD", "maintenance_type": "oil_change",
                             "due_km": "60 000", "overdue": True, "days": 0}),
        ("training_due", {"training_name": "Safety", "driver_name": "Ana", "days": 1}),
        ("shift_tomorrow", {"starts_text": "08:00", "ends_text": "16:00", "plate": None,
                            "days": 1}),
        ("fine_designation_deadline", {"fine_reference": "F-42", "plate": "AB-123-CD",
                                       "amount_text": "135 €", "days": 3}),
    ],
)
def test_every_reminder_renders_in_english_and_french(
    reason: str, variables: dict[str, Any], language: str
) -> None:
    values = {"date_text": "1 December 2026", "about": None, "plate": None,
              "driver_name": None, "recipient_name": "Ana", "tenant_name": "Remind Cabs",
              **variables}
    email = render_notification(reason, values, language=language, tenant_name="Remind & Co")
    assert email.subject
    assert "\n" not in email.subject
    assert ("Bonjour Ana" if language == "fr" else "Hello Ana") in email.text
    assert f"<html lang=\"{language}\"" in email.html
    assert "Remind &amp; Co" in email.html
    assert "Remind & Co" in email.text
    if reason == "document_expiring":
        assert "&lt;b&gt;Silva" in email.html
        assert "<b>Silva" in email.text


def test_language_follows_the_recipient_then_the_country() -> None:
    assert language_for("fr-FR") == "fr"
    assert language_for("pt-BR", "FR") == "fr"
    assert language_for(None, "GB") == "en"
    assert language_for("en", "FR") == "en"

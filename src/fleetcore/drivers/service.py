"""Drivers: compliance, availability, and the business rules of the ``rid_`` tables.

Services flush, never commit: the request (or job) owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Select,
    Uuid,
    and_,
    bindparam,
    column,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from fleetcore.admin.models import Member, Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.compliance import ComplianceReport, RuleResult, RuleStatus
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
)
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.resource import Rows, pager, patch
from fleetcore.core.schemas import MoneyIn
from fleetcore.core.versioning import check_if_match
from fleetcore.documents.models import Document
from fleetcore.drivers.filters import (
    BlacklistFilter,
    DriverFilter,
    PerformanceFilter,
    RequestFilter,
    TermsFilter,
    TrainingFilter,
    apply_blacklist_filter,
    apply_driver_filter,
    apply_performance_filter,
    apply_request_filter,
    apply_terms_filter,
    apply_training_filter,
    driver_sort_keys,
)
from fleetcore.drivers.models import (
    BlacklistStatus,
    CooperationTermsStatus,
    DocumentRequirement,
    Driver,
    DriverBlacklist,
    DriverCooperationTerms,
    DriverDocument,
    DriverPerformance,
    DriverRequest,
    DriverRequestStatus,
    DriverRequestType,
    DriverTraining,
    SettlementModel,
    TrainingStatus,
    TrainingType,
    VerificationStatus,
)
from fleetcore.drivers.schemas import (
    BlacklistCreate,
    BlacklistUpdate,
    CooperationTermsCreate,
    DriverCreate,
    DriverDocumentAttach,
    DriverDocumentUpdate,
    DriverUpdate,
    TermsTermination,
    TrainingCreate,
    TrainingUpdate,
)
from fleetcore.reference.models import CountryRegulation

WARNING_DAYS = 30
"""Anything expiring within this many days is a warning, not yet a failure."""

SUBJECT = "driver"


# --- compliance --------------------------------------------------------------------------------


def _years_between(earlier: date, later: date) -> int:
    """Whole years from ``earlier`` to ``later`` (birthday arithmetic, 29 Feb safe)."""
    years = later.year - earlier.year
    if (later.month, later.day) < (earlier.month, earlier.day):
        years -= 1
    return years


def _expiry_rule(
    rule: str, what: str, expires_on: date | None, today: date,
    related_id: uuid.UUID | None = None,
) -> RuleResult:
    """Pass, warn (within ``WARNING_DAYS``) or fail on an expiry date; no date is a failure."""
    if expires_on is None:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"No expiry date recorded for the {what}.", related_id=related_id)
    if expires_on < today:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"The {what} expired on {expires_on.isoformat()}.",
                          related_id=related_id)
    if expires_on <= today + timedelta(days=WARNING_DAYS):
        return RuleResult(rule=rule, status=RuleStatus.WARNING,
                          reason=f"The {what} expires on {expires_on.isoformat()}.",
                          related_id=related_id)
    return RuleResult(rule=rule, status=RuleStatus.PASS,
                      reason=f"The {what} is valid until {expires_on.isoformat()}.",
                      related_id=related_id)


def _licence_rule(driver: Driver, today: date) -> RuleResult:
    if not driver.licence_number and driver.licence_expires_on is None:
        return RuleResult(rule="licence_valid", status=RuleStatus.FAIL,
                          reason="No driving licence on file.")
    if driver.licence_issued_on is not None and driver.licence_issued_on > today:
        return RuleResult(rule="licence_valid", status=RuleStatus.FAIL,
                          reason=f"The driving licence is only valid from "
                                 f"{driver.licence_issued_on.isoformat()}.")
    return _expiry_rule("licence_valid", "driving licence", driver.licence_expires_on, today)


def _professional_card_rule(
    driver: Driver, country: str, regulation: CountryRegulation | None, today: date
) -> RuleResult:
    rule = "professional_card_valid"
    if regulation is None:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE,
                          reason=f"No ride-hailing regulation on file for {country}.")
    if not regulation.professional_card_required:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE,
                          reason=f"{country} requires no professional card.")
    name = regulation.professional_card_name or "professional card"
    if not driver.professional_card_number:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"{country} requires a {name}; none is on file.")
    return _expiry_rule(rule, name, driver.professional_card_expires_on, today)


def _minimum_age_rule(
    driver: Driver, regulation: CountryRegulation | None, today: date
) -> RuleResult:
    rule = "minimum_age"
    if regulation is None or regulation.min_driver_age is None:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE,
                          reason="The country sets no minimum driver age.")
    minimum = regulation.min_driver_age
    if driver.date_of_birth is None:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"Date of birth unknown; the minimum age is {minimum}.")
    age = _years_between(driver.date_of_birth, today)
    if age < minimum:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"The driver is {age}; the minimum age is {minimum}.")
    return RuleResult(rule=rule, status=RuleStatus.PASS,
                      reason=f"The driver is {age} (minimum {minimum}).")


def _licence_years_rule(
    driver: Driver, regulation: CountryRegulation | None, today: date
) -> RuleResult:
    rule = "minimum_licence_years"
    if regulation is None or not regulation.min_licence_years:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE,
                          reason="The country sets no minimum years of licence.")
    minimum = regulation.min_licence_years
    if driver.licence_issued_on is None:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"Licence issue date unknown; {minimum} years are required.")
    years = _years_between(driver.licence_issued_on, today)
    if years < minimum:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"Licence held for {years} years; {minimum} are required.")
    return RuleResult(rule=rule, status=RuleStatus.PASS,
                      reason=f"Licence held for {years} years (minimum {minimum}).")


def _document_rules(
    links: Sequence[tuple[DriverDocument, Document]], today: date
) -> list[RuleResult]:
    rule = "required_documents"
    required = [(link, doc) for link, doc in links
                if link.requirement == DocumentRequirement.REQUIRED.value]
    if not required:
        return [RuleResult(rule=rule, status=RuleStatus.PASS,
                           reason="No required documents are outstanding.")]
    results = []
    for link, doc in required:
        what = doc.document_type.replace("_", " ")
        if doc.deleted_at is not None:
            results.append(RuleResult(rule=rule, status=RuleStatus.FAIL,
                                      reason=f"The required {what} was deleted.",
                                      related_id=doc.id))
        elif link.verification_status == VerificationStatus.REJECTED.value:
            results.append(RuleResult(
                rule=rule, status=RuleStatus.FAIL,
                reason=f"The {what} was rejected: {link.rejection_reason}.", related_id=doc.id))
        elif link.verification_status != VerificationStatus.VERIFIED.value:
            results.append(RuleResult(
                rule=rule, status=RuleStatus.FAIL,
                reason=f"The {what} is {link.verification_status}, not verified.",
                related_id=doc.id))
        elif doc.expires_on is None:
            results.append(RuleResult(rule=rule, status=RuleStatus.PASS,
                                      reason=f"The {what} is verified and does not expire.",
                                      related_id=doc.id))
        else:
            results.append(_expiry_rule(rule, what, doc.expires_on, today, doc.id))
    return results


def _training_rules(trainings: Sequence[DriverTraining], today: date) -> list[RuleResult]:
    rule = "mandatory_training"
    by_name: dict[str, list[DriverTraining]] = defaultdict(list)
    for t in trainings:
        if t.training_type == TrainingType.MANDATORY.value:
            by_name[t.training_name].append(t)
    if not by_name:
        return [RuleResult(rule=rule, status=RuleStatus.PASS,
                           reason="No mandatory training is assigned.")]
    order = {RuleStatus.PASS: 0, RuleStatus.WARNING: 1, RuleStatus.FAIL: 2}
    results = []
    for name in sorted(by_name):
        candidates = []
        for t in by_name[name]:
            if t.status != TrainingStatus.COMPLETED.value:
                candidates.append(RuleResult(
                    rule=rule, status=RuleStatus.FAIL,
                    reason=f"Mandatory training {name!r} is {t.status.replace('_', ' ')}.",
                    related_id=t.id))
            elif t.expires_on is None:
                candidates.append(RuleResult(
                    rule=rule, status=RuleStatus.PASS,
                    reason=f"Mandatory training {name!r} completed on {t.completed_on}.",
                    related_id=t.id))
            else:
                candidates.append(_expiry_rule(rule, f"training {name!r}", t.expires_on,
                                               today, t.id))
        # A retaken training counts: the best outcome of the same training wins.
        results.append(min(candidates, key=lambda r: order[r.status]))
    return results


def _blacklist_rule(entries: Sequence[DriverBlacklist]) -> RuleResult:
    rule = "no_active_blacklist"
    if not entries:
        return RuleResult(rule=rule, status=RuleStatus.PASS, reason="No active blacklist entry.")
    entry = entries[0]
    until = f" until {entry.ends_at.isoformat()}" if entry.ends_at else ""
    return RuleResult(rule=rule, status=RuleStatus.FAIL,
                      reason=f"Blacklisted ({entry.category}){until}: {entry.reason}",
                      related_id=entry.id)


def _active_blacklist_at(at: datetime) -> list[ColumnElement[bool]]:
    return [
        DriverBlacklist.status == BlacklistStatus.ACTIVE.value,
        DriverBlacklist.deleted_at.is_(None),
        DriverBlacklist.starts_at <= at,
        or_(DriverBlacklist.ends_at.is_(None), DriverBlacklist.ends_at > at),
    ]


def drivers_compliance(
    session: Session, actor: Actor, driver_ids: Iterable[uuid.UUID] | None, at: datetime
) -> dict[uuid.UUID, ComplianceReport]:
    """Compliance of many drivers (all live ones when ``driver_ids`` is None) in four queries.

    Called by the fleet compliance summary and by :func:`driver_compliance`.
    """
    today = at.date()
    ids = None if driver_ids is None else list(driver_ids)
    if ids is not None and not ids:
        return {}
    regulation_on = and_(
        CountryRegulation.country == Tenant.country,
        CountryRegulation.effective_from <= today,
        or_(CountryRegulation.effective_to.is_(None), CountryRegulation.effective_to > today),
    )
    stmt = (
        select(Driver, Tenant.country, CountryRegulation)
        .join(Tenant, Tenant.id == Driver.tenant_id)
        .outerjoin(CountryRegulation, regulation_on)
        .where(Driver.deleted_at.is_(None))
    )
    if ids is not None:
        stmt = stmt.where(Driver.id.in_(ids))
    rows = session.execute(stmt).all()
    if not rows:
        return {}
    found = [d.id for d, _, _ in rows]
    docs: dict[uuid.UUID, list[tuple[DriverDocument, Document]]] = defaultdict(list)
    doc_rows = session.execute(
        select(DriverDocument, Document)
        .join(Document, and_(Document.tenant_id == DriverDocument.tenant_id,
                             Document.id == DriverDocument.document_id))
        .where(DriverDocument.driver_id.in_(found))
        .order_by(DriverDocument.created_at, DriverDocument.id)
    )
    for link, doc in doc_rows:
        docs[link.driver_id].append((link, doc))
    trainings: dict[uuid.UUID, list[DriverTraining]] = defaultdict(list)
    for t in session.scalars(
        select(DriverTraining)
        .where(DriverTraining.driver_id.in_(found), DriverTraining.deleted_at.is_(None))
    ):
        trainings[t.driver_id].append(t)
    bans: dict[uuid.UUID, list[DriverBlacklist]] = defaultdict(list)
    for b in session.scalars(
        select(DriverBlacklist)
        .where(DriverBlacklist.driver_id.in_(found), *_active_blacklist_at(at))
        .order_by(DriverBlacklist.starts_at)
    ):
        bans[b.driver_id].append(b)

    reports = {}
    for driver, country, regulation in rows:
        rules = [
            _licence_rule(driver, today),
            _professional_card_rule(driver, country, regulation, today),
            *_document_rules(docs[driver.id], today),
            _minimum_age_rule(driver, regulation, today),
            _licence_years_rule(driver, regulation, today),
            *_training_rules(trainings[driver.id], today),
            _blacklist_rule(bans[driver.id]),
        ]
        reports[driver.id] = ComplianceReport.of(SUBJECT, driver.id, at, rules)
    return reports


def driver_compliance(
    session: Session, actor: Actor, driver_id: uuid.UUID, at: datetime
) -> ComplianceReport:
    """Every compliance rule of one driver at ``at``; NotFound when invisible.

    Called by ``GET /v1/drivers/{id}/compliance`` and by the fleet service before assigning.
    """
    report = drivers_compliance(session, actor, [driver_id], at).get(driver_id)
    if report is None:
        raise NotFound("No such driver.")
    return report


# --- availability ------------------------------------------------------------------------------


Slot = tuple[uuid.UUID, datetime, datetime | None]
"""A driver and a period ``[starts_at, ends_at)`` (open-ended when ``ends_at`` is None)."""


def driver_slots(slots: Sequence[Slot]) -> Any:
    """The slots as a table ``c(driver_id, starts_at, ends_at, n)`` (``unnest`` of three
    arrays, ``n`` the 1-based position), so one query answers for all of them."""
    return func.unnest(
        bindparam("slot_drivers", [d for d, _, _ in slots], type_=ARRAY(Uuid())),
        bindparam("slot_starts", [st for _, st, _ in slots],
                  type_=ARRAY(DateTime(timezone=True))),
        bindparam("slot_ends", [e for _, _, e in slots], type_=ARRAY(DateTime(timezone=True))),
    ).table_valued(
        column("driver_id", Uuid()), column("starts_at", DateTime(timezone=True)),
        column("ends_at", DateTime(timezone=True)), with_ordinality="n",
    ).render_derived(name="c")


def availability_conflicts_many(session: Session, slots: Sequence[Slot]) -> list[list[str]]:
    """Why each driver cannot work in their slot (approved leave, active blacklist), in the
    order of ``slots``; ``[]`` for a free slot. Two queries, however many slots.

    Called by :func:`availability_conflicts` and by the scheduling service (a series' new
    occurrences, created by the API or extended by the nightly job).
    """
    reasons: list[list[str]] = [[] for _ in slots]
    if not slots:
        return reasons
    c = driver_slots(slots)
    leave = (
        select(c.c.n, DriverRequest)
        .join(DriverRequest, and_(
            DriverRequest.driver_id == c.c.driver_id,
            DriverRequest.request_type == DriverRequestType.LEAVE.value,
            DriverRequest.status == DriverRequestStatus.APPROVED.value,
            DriverRequest.period_end > c.c.starts_at,
            or_(c.c.ends_at.is_(None), DriverRequest.period_start < c.c.ends_at),
        ))
        .order_by(c.c.n, DriverRequest.period_start)
    )
    for n, request in session.execute(leave):
        start, end = request.period_start, request.period_end
        reasons[n - 1].append(
            f"The driver is on approved leave from {start.isoformat() if start else '?'} "
            f"to {end.isoformat() if end else '?'}."
        )
    bans = (
        select(c.c.n, DriverBlacklist)
        .join(DriverBlacklist, and_(
            DriverBlacklist.driver_id == c.c.driver_id,
            DriverBlacklist.status == BlacklistStatus.ACTIVE.value,
            DriverBlacklist.deleted_at.is_(None),
            or_(DriverBlacklist.ends_at.is_(None), DriverBlacklist.ends_at > c.c.starts_at),
            or_(c.c.ends_at.is_(None), DriverBlacklist.starts_at < c.c.ends_at),
        ))
        .order_by(c.c.n, DriverBlacklist.starts_at)
    )
    for n, ban in session.execute(bans):
        until = f" until {ban.ends_at.isoformat()}" if ban.ends_at else ""
        reasons[n - 1].append(
            f"The driver is blacklisted ({ban.category}) from {ban.starts_at.isoformat()}"
            f"{until}: {ban.reason}"
        )
    return reasons


def availability_conflicts(
    session: Session, driver_id: uuid.UUID, starts_at: datetime, ends_at: datetime | None
) -> list[str]:
    """Why the driver cannot work in ``[starts_at, ends_at)`` (open-ended when None); [] if free.

    Called by the fleet service (assignments) and the scheduling service (shifts).
    """
    return availability_conflicts_many(session, [(driver_id, starts_at, ends_at)])[0]


def lock_driver(session: Session, driver_id: uuid.UUID) -> Driver:
    """The live driver row locked ``FOR UPDATE`` (serialises assignments/shifts per driver).

    Called by the fleet and scheduling services before checking overlaps; NotFound if invisible.
    """
    driver = session.scalar(
        select(Driver)
        .where(Driver.id == driver_id, Driver.deleted_at.is_(None))
        .with_for_update()
    )
    if driver is None:
        raise NotFound("No such driver.")
    return driver


# --- shared ------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


# Database constraints → how they are reported, so a violation the service did not foresee
# still answers a clear 409/422 naming the field, never a 500.
_CONSTRAINTS: dict[str, ConstraintProblem] = {
    "uq_rid_drivers_tenant_id_email_live": ConstraintProblem(
        "email", "Another driver has this e-mail."),
    "uq_rid_drivers_tenant_id_phone_live": ConstraintProblem(
        "phone", "Another driver has this phone."),
    "uq_rid_drivers_tenant_id_member_id_live": ConstraintProblem(
        "member_id", "Another driver is linked to this member."),
    "uq_rid_driver_documents_tenant_id_driver_id_document_id": ConstraintProblem(
        "document_id", "This document is already attached to the driver."),
    "ex_rid_driver_cooperation_terms_period": ConstraintProblem(
        "effective_from",
        "The driver already has accepted terms in force in this period (one active term per "
        "driver): terminate them or start the new terms after they end."),
}


# Reads name the actor's tenant (decision 0021): row-level security's tenant test is no index
# condition, and a driver read by id alone scanned the whole table once the policies stopped
# calling current_setting per row (tests/scheduling/test_lists_at_demo_scale.py).
_rows = Rows(_CONSTRAINTS, not_deleted="It is not deleted.",
             refreshed=None)
_flush = _rows.flush


def _field_error(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field, "message": message}])


def _tenant_country(session: Session, actor: Actor) -> str:
    country = session.scalar(select(Tenant.country).where(Tenant.id == tenant_of(actor)))
    if country is None:
        raise NotFound("No tenant is open.")
    return country


def _same_phone(value: str, stored: str | None, country: str) -> bool:
    """Whether ``value`` is the stored number, however it is spelled (no validity check)."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == stored


def normalise_phone(value: str, country: str) -> str:
    """``value`` in E.164; national formats are read in ``country``. ValueError if not valid."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number (read in {country} when national)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def driver_for_body(session: Session, driver_id: uuid.UUID) -> Driver:
    """The live driver a request body names; 422 on ``driver_id`` when unknown or foreign."""
    driver = session.scalar(
        select(Driver).where(Driver.id == driver_id, Driver.deleted_at.is_(None)))
    if driver is None:
        raise _field_error("driver_id", "No such driver.")
    return driver


# --- drivers -----------------------------------------------------------------------------------


get_driver = _rows.getter(Driver, "driver")


def drivers_query(actor: Actor, spec: DriverFilter) -> Select[Any]:
    """The filtered, sorted query behind the drivers list and its CSV export."""
    stmt = apply_driver_filter(
        select(Driver).where(Driver.tenant_id == tenant_of(actor)), spec)
    keys, descending = driver_sort_keys(spec.sort)
    return stmt.order_by(*[k.desc() if descending else k.asc() for k in keys])


def list_drivers(
    session: Session, actor: Actor, params: PageParams, spec: DriverFilter
) -> tuple[list[Driver], str | None]:
    """A page of the tenant's drivers (one query)."""
    stmt = apply_driver_filter(select(Driver).where(Driver.tenant_id == tenant_of(actor)), spec)
    keys, descending = driver_sort_keys(spec.sort)
    return keyset_page(session, stmt, keys, params, descending=descending)


_DRIVER_FIELDS = (
    "first_name", "last_name", "email", "phone", "date_of_birth", "licence_number",
    "licence_country", "licence_issued_on", "licence_expires_on", "professional_card_type",
    "professional_card_number", "professional_card_expires_on", "status", "notes", "member_id",
    "hired_on", "preferred_language",
)


def _check_driver(session: Session, driver: Driver, country: str, changed: set[str]) -> None:
    """Field rules that need the tenant or several fields at once; all errors at once."""
    errors: list[dict[str, str]] = []
    today = _now().date()
    if "phone" in changed and driver.phone is not None:
        try:
            driver.phone = normalise_phone(driver.phone, country)
        except ValueError as exc:
            errors.append({"field": "phone", "message": str(exc)})
    if "email" in changed and driver.email is not None:
        driver.email = driver.email.strip()
    dob = driver.date_of_birth
    if dob is not None and "date_of_birth" in changed:
        age = _years_between(dob, today) if dob <= today else -1
        if age < 16 or age > 100:
            errors.append({"field": "date_of_birth",
                           "message": "not plausible: a driver is between 16 and 100 years old"})
    issued, expires = driver.licence_issued_on, driver.licence_expires_on
    if issued is not None and expires is not None and expires <= issued:
        errors.append({"field": "licence_expires_on",
                       "message": "must be after licence_issued_on"})
    if issued is not None and issued > today and "licence_issued_on" in changed:
        errors.append({"field": "licence_issued_on", "message": "must not be in the future"})
    if issued is not None and dob is not None and issued <= dob:
        errors.append({"field": "licence_issued_on", "message": "must be after date_of_birth"})
    if driver.hired_on is not None and dob is not None and driver.hired_on <= dob:
        errors.append({"field": "hired_on", "message": "must be after date_of_birth"})
    if "member_id" in changed and driver.member_id is not None and session.scalar(
        select(Member.id).where(Member.id == driver.member_id, Member.deleted_at.is_(None))
    ) is None:
        errors.append({"field": "member_id", "message": "no such member"})
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise ValidationProblem(f"Invalid value for {fields}.", errors=errors)


def create_driver(session: Session, actor: Actor, *, data: DriverCreate) -> Driver:
    """A new driver (phone normalised to E.164 in the tenant's country)."""
    driver = _rows.new(actor, Driver, data, include=_DRIVER_FIELDS)
    _check_driver(session, driver, _tenant_country(session, actor), set(_DRIVER_FIELDS))
    return _rows.add(session, driver)


def update_driver(session: Session, actor: Actor, driver_id: uuid.UUID, *,
                  data: DriverUpdate, if_match: str | None = None) -> Driver:
    """Change a driver's fields (only those sent); 412 on a stale ``If-Match``."""
    driver = get_driver(session, actor, driver_id, if_match=if_match)
    if driver.anonymised_at is not None:
        # Erased on request: writing names or numbers back would undo the erasure.
        raise Conflict(f"This driver's personal data was erased on "
                       f"{driver.anonymised_at:%Y-%m-%d}: an erased driver is not edited.")
    country = _tenant_country(session, actor)
    names = set(_DRIVER_FIELDS)
    if data.phone is not None and _same_phone(data.phone, driver.phone, country):
        # A form sends every field back: the stored number is kept, not judged again (it may
        # be in a range phonenumbers does not list, like the demo's fiction numbers).
        names.discard("phone")
    changed = patch(driver, data, names,
                    required=("first_name", "last_name", "status", "preferred_language"))
    with session.no_autoflush:
        _check_driver(session, driver, country, changed)
    return _rows.save(session, actor, driver)


restore_driver = replace(_rows, not_deleted="The driver is not deleted.").restorer(
    Driver, "driver")
"""Bring a soft-deleted driver back (409 if another live driver took its e-mail/phone)."""


# --- driver documents --------------------------------------------------------------------------


def driver_documents(
    session: Session, actor: Actor, driver_id: uuid.UUID
) -> list[tuple[DriverDocument, Document]]:
    """The driver's document links with their documents (one query after the driver check)."""
    get_driver(session, actor, driver_id)
    rows = session.execute(driver_documents_query(actor, driver_id)).all()
    return [(link, doc) for link, doc in rows]


def driver_documents_query(actor: Actor,
                           driver_id: uuid.UUID) -> Select[DriverDocument, Document]:
    """A driver's document links joined to their documents, oldest first (list and CSV).

    The tenant is named although row-level security implies it: the RLS predicate cannot
    be an index condition, and without it the (tenant, driver, document) key is of no use
    to PostgreSQL before 18 (no skip scan) — the list read the whole table."""
    return (
        select(DriverDocument, Document)
        .join(Document, and_(Document.tenant_id == DriverDocument.tenant_id,
                             Document.id == DriverDocument.document_id))
        .where(DriverDocument.tenant_id == tenant_of(actor),
               DriverDocument.driver_id == driver_id)
        .order_by(DriverDocument.created_at, DriverDocument.id)
    )


def driver_document(session: Session, actor: Actor, driver_id: uuid.UUID,
                    document_id: uuid.UUID) -> tuple[DriverDocument, Document]:
    """The driver's link to one of their documents, with the document (404 if not attached)."""
    get_driver(session, actor, driver_id)
    row = session.execute(
        select(DriverDocument, Document)
        .join(Document, and_(Document.tenant_id == DriverDocument.tenant_id,
                             Document.id == DriverDocument.document_id))
        .where(DriverDocument.driver_id == driver_id, DriverDocument.document_id == document_id)
    ).first()
    if row is None:
        raise NotFound("This document is not attached to the driver.")
    return row[0], row[1]


def attach_document(session: Session, actor: Actor, driver_id: uuid.UUID, *,
                    data: DriverDocumentAttach) -> tuple[DriverDocument, Document]:
    """Attach an uploaded document about this driver, as required or optional."""
    driver = get_driver(session, actor, driver_id)
    doc = session.scalar(select(Document).where(Document.id == data.document_id,
                                                Document.deleted_at.is_(None)))
    if doc is None:
        raise _field_error("document_id", "No such document.")
    if doc.entity_type != "driver" or doc.entity_id != driver.id:
        raise _field_error("document_id", "The document is not about this driver.")
    link = DriverDocument(tenant_id=driver.tenant_id, driver_id=driver.id, document_id=doc.id,
                          requirement=data.requirement.value, created_by=actor.id,
                          updated_by=actor.id)
    session.add(link)
    return _rows.refresh(session, link), doc


def update_driver_document(session: Session, actor: Actor, driver_id: uuid.UUID,
                           document_id: uuid.UUID, *, data: DriverDocumentUpdate,
                           if_match: str | None = None) -> tuple[DriverDocument, Document]:
    """Change whether the document is required."""
    link, doc = driver_document(session, actor, driver_id, document_id)
    check_if_match(if_match, link.version)
    link.requirement = data.requirement.value
    link.updated_by = actor.id
    return _rows.refresh(session, link), doc


def detach_document(session: Session, actor: Actor, driver_id: uuid.UUID,
                    document_id: uuid.UUID) -> None:
    """Remove the link (the document itself stays, owned by the documents domain)."""
    link, _ = driver_document(session, actor, driver_id, document_id)
    session.delete(link)
    _flush(session)


# --- cooperation terms -------------------------------------------------------------------------


def _money_in(value: MoneyIn | None, currency: str, field: str) -> Decimal | None:
    if value is None:
        return None
    money = value.to_money()
    if money.currency != currency:
        raise _field_error(f"{field}.currency", f"must be the terms' currency {currency}")
    return money.amount


def create_cooperation_terms(session: Session, actor: Actor, *,
                             data: CooperationTermsCreate) -> DriverCooperationTerms:
    """Offer a version of terms to a driver (pending until accepted)."""
    driver = driver_for_body(session, data.driver_id)
    errors: list[dict[str, str]] = []
    model = data.settlement_model
    if model is SettlementModel.REVENUE_SHARE and data.fleet_share_pct is None:
        errors.append({"field": "fleet_share_pct", "message": "required for revenue_share"})
    if model is not SettlementModel.REVENUE_SHARE and data.fleet_share_pct is not None:
        errors.append({"field": "fleet_share_pct", "message": "only for revenue_share"})
    if model is SettlementModel.FIXED_RENT:
        if data.rent is None:
            errors.append({"field": "rent", "message": "required for fixed_rent"})
        if data.rent_period is None:
            errors.append({"field": "rent_period", "message": "required for fixed_rent"})
    elif data.rent is not None or data.rent_period is not None:
        errors.append({"field": "rent", "message": "only for fixed_rent"})
    if data.effective_to is not None and data.effective_to <= data.effective_from:
        errors.append({"field": "effective_to", "message": "must be after effective_from"})
    if data.weekly_deposit_instalment is not None and data.deposit is None:
        errors.append({"field": "weekly_deposit_instalment", "message": "needs a deposit"})
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise ValidationProblem(f"Invalid value for {fields}.", errors=errors)
    deposit = _money_in(data.deposit, data.currency, "deposit")
    instalment = _money_in(data.weekly_deposit_instalment, data.currency,
                           "weekly_deposit_instalment")
    if instalment is not None and (instalment <= 0 or (deposit is not None
                                                       and instalment > deposit)):
        raise _field_error("weekly_deposit_instalment", "must be > 0 and at most the deposit")
    terms = DriverCooperationTerms(
        tenant_id=driver.tenant_id, driver_id=driver.id, terms_version=data.terms_version,
        status=CooperationTermsStatus.PENDING.value, effective_from=data.effective_from,
        effective_to=data.effective_to, settlement_model=model.value,
        fleet_share_pct=data.fleet_share_pct,
        rent_amount=_money_in(data.rent, data.currency, "rent"),
        rent_period=data.rent_period.value if data.rent_period else None,
        currency=data.currency, recharge_fuel=data.recharge_fuel,
        recharge_tolls=data.recharge_tolls, recharge_fines=data.recharge_fines,
        recharge_other_expenses=data.recharge_other_expenses, deposit_amount=deposit,
        weekly_deposit_instalment=instalment, created_by=actor.id, updated_by=actor.id,
    )
    return _rows.add(session, terms)


get_cooperation_terms = _rows.getter(DriverCooperationTerms, "cooperation terms")


def cooperation_terms_query(actor: Actor, spec: TermsFilter) -> Select[Any]:
    """The filtered terms, oldest first (list and CSV)."""
    return apply_terms_filter(select(DriverCooperationTerms).where(
        DriverCooperationTerms.tenant_id == tenant_of(actor)), spec)


def list_cooperation_terms(session: Session, actor: Actor, params: PageParams,
                           spec: TermsFilter) -> tuple[list[DriverCooperationTerms], str | None]:
    """A page of cooperation terms."""
    if spec.driver_id is not None:
        get_driver(session, actor, spec.driver_id)
    return keyset_page(session, cooperation_terms_query(actor, spec),
                       [DriverCooperationTerms.id], params)


def accept_cooperation_terms(session: Session, actor: Actor, terms_id: uuid.UUID, *,
                             ip: str | None, user_agent: str | None) -> DriverCooperationTerms:
    """Record acceptance (time, IP, user agent) and close the terms in force at the new start."""
    terms = get_cooperation_terms(session, actor, terms_id)
    if terms.status != CooperationTermsStatus.PENDING.value:
        raise Conflict(f"Only pending terms can be accepted; these are {terms.status}.")
    lock_driver(session, terms.driver_id)
    now = _now()
    current = session.scalars(
        select(DriverCooperationTerms).where(
            DriverCooperationTerms.driver_id == terms.driver_id,
            DriverCooperationTerms.id != terms.id,
            DriverCooperationTerms.status == CooperationTermsStatus.ACTIVE.value,
            DriverCooperationTerms.deleted_at.is_(None),
            or_(DriverCooperationTerms.effective_to.is_(None),
                DriverCooperationTerms.effective_to > terms.effective_from),
        ).with_for_update()
    ).all()
    for old in current:
        if old.effective_from >= terms.effective_from:
            raise Conflict(
                f"The terms in force since {old.effective_from.isoformat()} started after these "
                "new terms would: the new terms must start later.",
                errors=[{"field": "effective_from", "message": "before the current terms"}])
        old.effective_to = terms.effective_from
        if old.effective_to <= now:
            old.status = CooperationTermsStatus.EXPIRED.value
        old.updated_by = actor.id
    _flush(session)
    terms.status = CooperationTermsStatus.ACTIVE.value
    terms.accepted_at = now
    terms.accepted_ip = ip
    terms.accepted_user_agent = user_agent[:1000] if user_agent else None
    return _rows.save(session, actor, terms)


def terminate_cooperation_terms(session: Session, actor: Actor, terms_id: uuid.UUID, *,
                                data: TermsTermination) -> DriverCooperationTerms:
    """End terms in force (at ``effective_to`` or now) or withdraw pending ones, with a reason."""
    terms = get_cooperation_terms(session, actor, terms_id)
    if terms.status not in (CooperationTermsStatus.PENDING.value,
                            CooperationTermsStatus.ACTIVE.value):
        raise Conflict(f"The terms are already {terms.status}.")
    if terms.status == CooperationTermsStatus.ACTIVE.value:
        end = data.effective_to or _now()
        if end <= terms.effective_from:
            raise _field_error("effective_to", "must be after the terms' effective_from")
        if terms.effective_to is not None and end > terms.effective_to:
            raise _field_error("effective_to", "must not extend the terms")
        terms.effective_to = end
    terms.status = CooperationTermsStatus.TERMINATED.value
    terms.termination_reason = data.reason
    return _rows.save(session, actor, terms)


def _refuse_accepted(session: Session, terms: DriverCooperationTerms) -> None:
    if terms.accepted_at is not None:
        raise Conflict(
            f"These terms were accepted on {terms.accepted_at.isoformat()}: they stay as the "
            "record of the contract. Terminate them instead (POST .../terminate).",
            errors=[{"field": "status", "message": f"accepted terms ({terms.status})"}])


delete_cooperation_terms = _rows.deleter(DriverCooperationTerms, "cooperation terms",
                                         _refuse_accepted)
"""Soft-delete terms offered by mistake (restorable). Terms the driver accepted are the
contract's record (settlements are computed from them): they are terminated, never deleted,
so a 409 says so."""


restore_cooperation_terms = _rows.restorer(DriverCooperationTerms, "cooperation terms")
"""Bring deleted terms back (as they were: an offer still pending, or a withdrawn one)."""


# --- driver requests ---------------------------------------------------------------------------

get_driver_request = _rows.getter(DriverRequest, "driver request")


def driver_requests_query(actor: Actor, spec: RequestFilter) -> Select[Any]:
    """The filtered requests (list and CSV)."""
    return apply_request_filter(
        select(DriverRequest).where(DriverRequest.tenant_id == tenant_of(actor)), spec)


list_driver_requests = pager(driver_requests_query, DriverRequest.id, descending=True,
                             doc="A page of driver requests, newest first.")


# --- blacklists --------------------------------------------------------------------------------


def create_blacklist(session: Session, actor: Actor, *, data: BlacklistCreate) -> DriverBlacklist:
    """Blacklist a driver; while active it blocks new assignments and shifts."""
    driver = driver_for_body(session, data.driver_id)
    starts = data.starts_at or _now()
    if data.ends_at is not None and data.ends_at <= starts:
        raise _field_error("ends_at", "must be after starts_at")
    entry = _rows.new(actor, DriverBlacklist, data, tenant_id=driver.tenant_id,
                      driver_id=driver.id, starts_at=starts, decided_by=actor.id,
                      status=BlacklistStatus.ACTIVE.value)
    return _rows.add(session, entry)


get_blacklist = _rows.getter(DriverBlacklist, "blacklist entry")


def blacklists_query(actor: Actor, spec: BlacklistFilter) -> Select[Any]:
    """The filtered entries (list and CSV)."""
    return apply_blacklist_filter(
        select(DriverBlacklist).where(DriverBlacklist.tenant_id == tenant_of(actor)), spec)


list_blacklists = pager(blacklists_query, DriverBlacklist.id, doc="A page of blacklist entries.")


def update_blacklist(session: Session, actor: Actor, entry_id: uuid.UUID, *,
                     data: BlacklistUpdate, if_match: str | None = None) -> DriverBlacklist:
    """Change the reason, category or end of an entry."""
    entry = get_blacklist(session, actor, entry_id, if_match=if_match)
    patch(entry, data, ("reason", "category"), required=("reason", "category"))
    if "ends_at" in data.model_fields_set:
        if data.ends_at is not None and data.ends_at <= entry.starts_at:
            raise _field_error("ends_at", "must be after starts_at")
        entry.ends_at = data.ends_at
    return _rows.save(session, actor, entry)


def lift_blacklist(session: Session, actor: Actor, entry_id: uuid.UUID, *,
                   reason: str) -> DriverBlacklist:
    """Lift an active entry, with a reason."""
    entry = get_blacklist(session, actor, entry_id)
    if entry.status != BlacklistStatus.ACTIVE.value:
        raise Conflict("The entry is already lifted.")
    entry.status = BlacklistStatus.LIFTED.value
    entry.lifted_at = _now()
    entry.lifted_by = actor.id
    entry.lift_reason = reason
    return _rows.save(session, actor, entry)


# --- training ----------------------------------------------------------------------------------

_TRAINING_FIELDS = ("training_name", "training_type", "provider", "status", "scheduled_on",
                    "completed_on", "expires_on", "score", "certificate_document_id")


def _check_training(session: Session, training: DriverTraining, changed: set[str]) -> None:
    errors: list[dict[str, str]] = []
    if training.status == TrainingStatus.COMPLETED.value and training.completed_on is None:
        errors.append({"field": "completed_on", "message": "required when completed"})
    if training.completed_on is not None and training.completed_on > _now().date():
        errors.append({"field": "completed_on", "message": "must not be in the future"})
    if (training.expires_on is not None and training.completed_on is not None
            and training.expires_on < training.completed_on):
        errors.append({"field": "expires_on", "message": "must not be before completed_on"})
    if "certificate_document_id" in changed and training.certificate_document_id is not None \
            and session.scalar(select(Document.id).where(
                Document.id == training.certificate_document_id,
                Document.deleted_at.is_(None))) is None:
        errors.append({"field": "certificate_document_id", "message": "no such document"})
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise ValidationProblem(f"Invalid value for {fields}.", errors=errors)


def create_training(session: Session, actor: Actor, *, data: TrainingCreate) -> DriverTraining:
    """A training a driver must (mandatory) or may take."""
    driver = driver_for_body(session, data.driver_id)
    training = _rows.new(actor, DriverTraining, data, include=_TRAINING_FIELDS,
                         tenant_id=driver.tenant_id, driver_id=driver.id)
    _check_training(session, training, set(_TRAINING_FIELDS))
    return _rows.add(session, training)


get_training = _rows.getter(DriverTraining, "training")


def training_query(actor: Actor, spec: TrainingFilter) -> Select[Any]:
    """The filtered trainings (list and CSV)."""
    return apply_training_filter(
        select(DriverTraining).where(DriverTraining.tenant_id == tenant_of(actor)), spec)


list_training = pager(training_query, DriverTraining.id, doc="A page of trainings.")


def update_training(session: Session, actor: Actor, training_id: uuid.UUID, *,
                    data: TrainingUpdate, if_match: str | None = None) -> DriverTraining:
    """Change a training (e.g. record its completion)."""
    training = get_training(session, actor, training_id, if_match=if_match)
    session.flush()
    changed = patch(training, data, _TRAINING_FIELDS,
                    required=("training_name", "training_type", "status"))
    with session.no_autoflush:
        _check_training(session, training, changed)
    return _rows.save(session, actor, training)


delete_training = _rows.deleter(DriverTraining, "training")


restore_training = _rows.restorer(DriverTraining, "training")


delete_blacklist = _rows.deleter(DriverBlacklist, "blacklist entry")
"""Soft-delete an entry recorded by mistake (lifting is the normal end)."""


restore_blacklist = _rows.restorer(DriverBlacklist, "blacklist entry")


# --- performances ------------------------------------------------------------------------------


def performances_query(actor: Actor, spec: PerformanceFilter) -> Select[Any]:
    """The filtered performance rows (list and CSV)."""
    return apply_performance_filter(
        select(DriverPerformance).where(DriverPerformance.tenant_id == tenant_of(actor)), spec)


list_performances = pager(performances_query, DriverPerformance.id,
                          doc="A page of computed performance figures (read-only).")

"""Members and roles: who may use the console, with which roles; invite, grant and revoke a
role, suspend and reactivate. Everything goes through ``admin.service`` under the same rules as
``/v1/members`` (a fleet keeps an owner, nobody suspends themselves)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import service as admin_service
from fleetcore.admin.models import Member, MemberStatus
from fleetcore.admin.permissions import MembersRead, MembersWrite
from fleetcore.admin.schemas import MemberInvite
from fleetcore.core.errors import Problem
from fleetcore.core.pagination import PageParams
from fleetcore.core.versioning import lock_and_check_if_match
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    attempt,
    optional,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

INVITE_FIELDS = ("email", "first_name", "last_name", "phone", "preferred_language")
LANGUAGES = [("en", "English"), ("fr", "Français"), ("pt", "Português")]


def _page(c: Console, *, status: str | None, cursor: str | None, state: FormState,
          status_code: int = 200) -> HTMLResponse:
    members, next_cursor = admin_service.list_members(c.session, c.actor, page(cursor),
                                                      admin_service.MemberFilter(status=status))
    roles = admin_service.roles_of_members(c.session, c.tenant.id, [m.id for m in members])
    all_roles, _more = admin_service.list_roles(c.session, c.actor, PageParams(limit=100))
    return c.render("members/list.html", status_code=status_code, members=members,
                    roles=roles, all_roles=all_roles, next_cursor=next_cursor,
                    params={"status": status}, statuses=options(MemberStatus), state=state,
                    languages=LANGUAGES)


@router.get("/members")
def member_list(c: Ctx, _: MembersRead, status: str | None = None,
                cursor: str | None = None) -> HTMLResponse:
    """The fleet's members with their roles; invite one (``members:write``)."""
    return _page(c, status=enum_value(MemberStatus, status, "status"), cursor=cursor,
                 state=FormState(values={"preferred_language": "en"}))


@router.post("/members")
def invite_member(c: Ctx, _: MembersWrite, form: Form) -> Response:
    """Invite a member with the roles ticked; they sign in with that e-mail."""
    state = FormState(values=text_values(form, INVITE_FIELDS))
    values: dict[str, Any] = optional(state.values, "first_name", "last_name", "phone")
    values["role_ids"] = [str(v) for v in form.getlist("role_ids")]
    member = submit(c.session, state, MemberInvite,
                    {k: v for k, v in values.items() if v is not None},
                    lambda data: admin_service.invite_member(c.session, c.actor, data=data),
                    lambda s, code: _page(c, status=None, cursor=None, state=s,
                                          status_code=code))
    if isinstance(member, Response):
        return member
    return redirect(c.request, "/app/members", flash=gettext("%(email)s invited.",
                                                             email=member.email))


@router.post("/members/{member_id}/roles")
def change_role(c: Ctx, _: MembersWrite, member_id: uuid.UUID, form: Form) -> Response:
    """Grant (``action=grant``) or revoke (``action=revoke``) one role."""
    role = str(form.get("role_id") or "")
    action = str(form.get("action") or "")
    try:
        role_id = uuid.UUID(role)
    except ValueError:
        return redirect(c.request, "/app/members", flash=gettext("Choose a role."))
    try:
        if action == "revoke":
            attempt(c.session, lambda: admin_service.revoke_role(
                c.session, c.actor, member_id, role_id))
            message = gettext("Role revoked.")
        else:
            attempt(c.session, lambda: admin_service.grant_role(
                c.session, c.actor, member_id, role_id))
            message = gettext("Role granted.")
    except Problem as problem:
        message = problem.detail or problem.title
    return redirect(c.request, "/app/members", flash=message)


@router.post("/members/{member_id}/status")
def change_status(c: Ctx, _: MembersWrite, member_id: uuid.UUID, form: Form) -> Response:
    """Suspend (no sign-in, data kept) or reactivate, with the version the page showed."""
    target = MemberStatus.SUSPENDED if form.get("status") == "suspended" else MemberStatus.ACTIVE
    if_match = form_if_match(form.get("version"), "member")

    def change() -> Member:
        lock_and_check_if_match(c.session, Member, if_match, Member.id == member_id)
        return admin_service.set_member_status(c.session, c.actor, member_id, status=target)

    try:
        member = attempt(c.session, change)
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext(
                "This member changed meanwhile: reload the page and try again.")
        return redirect(c.request, "/app/members", flash=problem.detail or problem.title)
    verb = "suspended" if target is MemberStatus.SUSPENDED else "reactivated"
    return redirect(c.request, "/app/members", flash=f"{member.email} {verb}.")

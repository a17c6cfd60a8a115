"""A driver's documents: attach, requirement, verify/reject, expiry, detach."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from drivers_support import committed_insert, document_values, driver_body
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]


def _driver(client: TestClient, world: TenantWorld, auth: Auth, n: int) -> str:
    response = client.post("/v1/drivers", headers=auth(world), json=driver_body(n))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_attach_verify_reject_and_detach(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth, sessions: Any
) -> None:
    driver = _driver(client, tenant_a, auth, 1)
    other_driver = _driver(client, tenant_a, auth, 2)
    doc = committed_insert(sessions, tenant_a.id, "doc_documents",
                           **document_values(uuid.UUID(driver)))
    not_his = committed_insert(sessions, tenant_a.id, "doc_documents",
                               **document_values(uuid.UUID(other_driver)))
    foreign_driver = _driver(client, tenant_b, auth, 3)
    foreign = committed_insert(sessions, tenant_b.id, "doc_documents",
                               **document_values(uuid.UUID(foreign_driver)))
    url = f"/v1/drivers/{driver}/documents"
    for document_id in (not_his, foreign, uuid.uuid4()):
        refused = client.post(url, headers=auth(tenant_a), json={"document_id": str(document_id)})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "document_id"

    attached = client.post(url, headers=auth(tenant_a), json={"document_id": str(doc)})
    assert attached.status_code == 201, attached.text
    link = attached.json()
    assert (link["requirement"], link["verification_status"]) == ("required", "pending")
    assert link["expires_on"] == "2030-01-01"
    assert link["expired"] is False
    again = client.post(url, headers=auth(tenant_a), json={"document_id": str(doc)})
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "document_id"

    item = f"{url}/{doc}"
    assert client.post(f"{item}/reject", headers=if_match(
        client, f"{item}/reject", auth(tenant_a)), json={}).status_code == 422
    rejected = client.post(f"{item}/reject", headers=if_match(
        client, f"{item}/reject", auth(tenant_a)),
                           json={"reason": "Blurred scan"})
    assert rejected.status_code == 200
    assert rejected.json()["verification_status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "Blurred scan"
    verified = client.post(f"{item}/verify", headers=if_match(
        client, f"{item}/verify", auth(tenant_a)))
    assert verified.status_code == 200
    assert verified.json()["verification_status"] == "verified"
    assert verified.json()["rejection_reason"] is None

    tag = verified.headers["etag"]
    optional = client.patch(item, headers={**auth(tenant_a), "If-Match": tag},
                            json={"requirement": "optional"})
    assert optional.status_code == 200
    assert optional.json()["requirement"] == "optional"
    assert client.patch(item, headers={**auth(tenant_a), "If-Match": tag},
                        json={"requirement": "required"}).status_code == 412

    listed = client.get(url, headers=auth(tenant_a)).json()
    assert [d["document_id"] for d in listed] == [str(doc)]
    assert client.get(url, headers=auth(tenant_b)).status_code == 404
    assert client.post(f"{item}/verify", headers=if_match(
        client, f"{item}/verify", auth(tenant_b))).status_code == 404
    assert client.post(f"{item}/verify", headers=if_match(
        client, f"{item}/verify", auth(tenant_a, "viewer"))).status_code == 403

    assert client.delete(item, headers=if_match(client, item, auth(tenant_a))).status_code == 204
    assert client.get(url, headers=auth(tenant_a)).json() == []
    assert client.post(f"{item}/verify", headers=if_match(
        client, f"{item}/verify", auth(tenant_a))).status_code == 404


def test_an_expired_document_cannot_be_verified_and_fails_compliance(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    driver = _driver(client, tenant_a, auth, 4)
    doc = committed_insert(sessions, tenant_a.id, "doc_documents",
                           **document_values(uuid.UUID(driver), expires_on=date(2026, 1, 1)))
    url = f"/v1/drivers/{driver}/documents"
    assert client.post(url, headers=auth(tenant_a),
                       json={"document_id": str(doc)}).status_code == 201
    [listed] = client.get(url, headers=auth(tenant_a)).json()
    assert listed["expired"] is True
    refused = client.post(f"{url}/{doc}/verify", headers=if_match(
        client, f"{url}/{doc}/verify", auth(tenant_a)))
    assert refused.status_code == 409
    assert "expired" in refused.json()["detail"]
    report = client.get(f"/v1/drivers/{driver}/compliance", headers=auth(tenant_a)).json()
    assert report["compliant"] is False
    [failure] = [r for r in report["rules"] if r["status"] == "fail"]
    assert failure["rule"] == "required_documents"
    assert failure["related_id"] == str(doc)


def test_one_decision_whichever_endpoint_records_it(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    """A driver's document is verified or rejected once: through /v1/documents or through the
    driver's documents, both the document and the driver's link get the decision."""
    headers = auth(tenant_a)
    driver = _driver(client, tenant_a, auth, 5)
    doc = committed_insert(sessions, tenant_a.id, "doc_documents",
                           **document_values(uuid.UUID(driver)))
    url = f"/v1/drivers/{driver}/documents"
    assert client.post(url, headers=headers, json={"document_id": str(doc)}).status_code == 201

    def states() -> tuple[Any, ...]:
        [link] = client.get(url, headers=headers).json()
        document = client.get(f"/v1/documents/{doc}", headers=headers).json()
        return (link["verification_status"], link["rejection_reason"], document["verified"],
                document["rejection_reason"])

    stale = client.get(f"/v1/documents/{doc}", headers=headers).headers["etag"]
    verified = client.post(f"/v1/documents/{doc}/verify", headers=if_match(
        client, f"/v1/documents/{doc}/verify", headers))
    assert verified.status_code == 200, verified.text
    assert states() == ("verified", None, True, None)
    report = client.get(f"/v1/drivers/{driver}/compliance", headers=headers).json()
    assert all(r["related_id"] != str(doc) for r in report["rules"] if r["status"] == "fail")

    rejected = client.post(f"{url}/{doc}/reject", headers=if_match(
        client, f"{url}/{doc}/reject", headers), json={"reason": "Blurred"})
    assert rejected.status_code == 200, rejected.text
    assert states() == ("rejected", "Blurred", False, "Blurred")
    # The document's ETag guards the decision on both records.
    refused = client.post(f"/v1/documents/{doc}/verify", headers={**headers, "If-Match": stale})
    assert refused.status_code == 412
    assert states() == ("rejected", "Blurred", False, "Blurred")

    assert client.post(f"{url}/{doc}/verify", headers=if_match(
        client, f"{url}/{doc}/verify", headers)).status_code == 200
    assert states() == ("verified", None, True, None)
    again = client.post(f"/v1/documents/{doc}/reject", headers=if_match(
        client, f"/v1/documents/{doc}/reject", headers),
                        json={"reason": "Wrong person"})
    assert again.status_code == 200, again.text
    assert states() == ("rejected", "Wrong person", False, "Wrong person")


def test_an_expired_attached_document_is_refused_through_the_documents_endpoint_too(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    headers = auth(tenant_a)
    driver = _driver(client, tenant_a, auth, 6)
    doc = committed_insert(sessions, tenant_a.id, "doc_documents",
                           **document_values(uuid.UUID(driver), expires_on=date(2026, 1, 1)))
    assert client.post(f"/v1/drivers/{driver}/documents", headers=headers,
                       json={"document_id": str(doc)}).status_code == 201
    refused = client.post(f"/v1/documents/{doc}/verify", headers=if_match(
        client, f"/v1/documents/{doc}/verify", headers))
    assert refused.status_code == 409
    assert "expired" in refused.json()["detail"]
    assert client.get(f"/v1/documents/{doc}", headers=headers).json()["verified"] is False

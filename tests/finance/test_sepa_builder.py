"""The pain.001 builder (``sepa_service._build``) writes, byte for byte, the file the
``sepaxml`` library builds from the same payments: a batch exported before the builder was
rewritten for speed is rebuilt identically on a later download (its SHA-256 is kept and
compared), and the file keeps the structure banks already accept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from sepaxml import SepaTransfer

from fleetcore.finance.sepa_service import PAIN_001, _build, sepa_schema

NS = {"p": f"urn:iso:std:iso:20022:tech:xsd:{PAIN_001}"}


def _with_sepaxml(batch: Any, debtor: dict[str, Any], rows: list[Any],
                  exported_at: datetime) -> bytes:
    """The builder as it was (sepaxml, then the message id and creation time fixed)."""
    config: dict[str, Any] = {"name": str(debtor.get("name") or "Fleet"),
                              "IBAN": str(debtor["iban"]), "batch": True, "currency": "EUR"}
    if debtor.get("bic"):
        config["BIC"] = str(debtor["bic"])
    sepa = SepaTransfer(config, schema=PAIN_001, clean=True)
    for row in rows:
        payment: dict[str, Any] = {
            "name": row.name, "IBAN": row.iban,
            "amount": int((Decimal(row.net) * 100).to_integral_exact()),
            "execution_date": exported_at.date(),
            "description": f"Driver payout {batch.period_start.date().isoformat()}",
            "endtoend_id": row.end_to_end_id,
        }
        if row.bic:
            payment["BIC"] = row.bic
        sepa.add_payment(payment)
    tree = etree.fromstring(sepa.export(validate=False))
    header = tree.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    header.find("p:MsgId", NS).text = "FCB" + batch.id.hex
    header.find("p:CreDtTm", NS).text = exported_at.strftime("%Y-%m-%dT%H:%M:%S")
    for info in tree.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", NS):
        info.text = "FCB" + batch.id.hex
    assert sepa_schema().validate(tree), sepa_schema().error_log
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


NAMES = st.text(alphabet=st.sampled_from(list("AbcZ09 &<>'\"-.,/éÉßøŁçñ中ü\r\n\t")), min_size=1,
                max_size=90).filter(lambda s: s.strip() != "")
PAYMENT = st.tuples(NAMES, st.integers(min_value=1, max_value=99_999_999),
                    st.sampled_from([None, "COBADEFFXXX", "PSSTFRPP"]))


@settings(max_examples=60, deadline=None)
@given(payments=st.lists(PAYMENT, min_size=1, max_size=8), debtor_name=NAMES,
       debtor_bic=st.sampled_from([None, "PSSTFRPP"]))
def test_builder_writes_the_bytes_sepaxml_writes(payments: list[tuple[str, int, str | None]],
                                                 debtor_name: str,
                                                 debtor_bic: str | None) -> None:
    batch = SimpleNamespace(id=uuid.uuid4(),
                            period_start=datetime(2026, 11, 15, 23, tzinfo=UTC))
    debtor: dict[str, Any] = {"name": debtor_name, "iban": "FR1420041010050500013M02606"}
    if debtor_bic:
        debtor["bic"] = debtor_bic
    rows = [SimpleNamespace(name=name, net=Decimal(cents).scaleb(-2), bic=bic,
                            iban="DE89370400440532013000",
                            end_to_end_id="FC" + uuid.uuid4().hex)
            for name, cents, bic in payments]
    exported_at = datetime(2026, 12, 7, 17, 30, 5, tzinfo=UTC)
    built = _build(batch, debtor, rows, exported_at)  # type: ignore[arg-type]
    assert built == _with_sepaxml(batch, dict(debtor), rows, exported_at)
    header = etree.fromstring(built).find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert int(header.findtext("p:NbOfTxs", namespaces=NS)) == len(rows)
    assert Decimal(header.findtext("p:CtrlSum", namespaces=NS)) == sum(r.net for r in rows)

"""Reading toll-operator statements without the database: the packaged mappings load, a broken
mapping is refused naming its file, and the readers' rules (encodings, ``sep=`` line, date order,
decimal mark, identical lines) hold for statements."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime

import pytest

from fleetcore.finance.toll_statements import Statement, formats, load_format, read_statement
from fleetcore.revenue.reports.model import UnreadableReport


def _read(data: bytes, fmt: str | None = None) -> Statement:
    return read_statement(data, format_name=fmt, currency="EUR", timezone="Europe/Paris",
                          region="FR")


def test_the_packaged_formats_load_and_broken_ones_are_refused() -> None:
    assert set(formats()) >= {"bipandgo", "generic"}
    assert formats()["bipandgo"].fields["gate"].how == "gates"
    with pytest.raises(ValueError, match=r"toll_mappings/bad\.toml: the fields \['amount'\]"):
        load_format("bad", '[columns.p]\nheaders = ["Plate"]\n[columns.t]\nheaders = ["T"]\n'
                           '[fields]\nplate = "p"\noccurred_at = "t"\n')
    with pytest.raises(ValueError, match="unknown column 'x'"):
        load_format("bad", '[columns.p]\nheaders = ["P"]\n[fields]\nplate = "p"\n'
                           'occurred_at = "x"\namount = "p"\n')


def test_bom_sep_line_and_identical_lines() -> None:
    body = ("sep=;\nDate;Heure;Immatriculation;Gare de sortie;Montant TTC\n"
            "01/12/2026;07:05;AB-123-CD;Fleury;2,10\n"
            "01/12/2026;07:05;AB-123-CD;Fleury;2,10\n")
    statement = _read(codecs.BOM_UTF8 + body.encode())
    charges = statement.charges
    assert [c.row for c in charges] == [3, 4]
    assert charges[0].occurred_at == datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    # Two identical passages in one statement are two charges; importing it again, the same two.
    assert charges[0].external_reference != charges[1].external_reference
    again = _read(body.encode("cp1252")).charges
    assert [c.external_reference for c in again] == [c.external_reference for c in charges]


def test_a_forced_format_that_does_not_fit_is_refused_with_its_columns() -> None:
    with pytest.raises(UnreadableReport, match="needs the columns"):
        _read(b"Plate,Timestamp,Amount\nAB1,2026-11-16 10:00,1.00\n", "bipandgo")
    with pytest.raises(UnreadableReport, match="unknown statement format"):
        _read(b"Plate,Timestamp,Amount\n", "nope")

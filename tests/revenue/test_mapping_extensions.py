"""Operator mapping files (``FLEETCORE_MAPPINGS_DIR``, docs/mappings.md): loaded with the packaged
ones and checked by the same rules, at start-up and by ``fleetcore mappings check``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetcore.cli import app as cli
from fleetcore.revenue.reports import UnreadableReport, read_report
from fleetcore.revenue.reports.mapping import MappingError, load_mappings
from fleetcore.settings import get_settings

PACKAGED = resources.files("fleetcore.revenue.reports").joinpath("mappings")

# Bolt's English weekly export with a header spelling the packaged mapping does not know.
RENAMED = (
    "Driver,Driver's Phone,Email,Gross earnings (total)|€,Rider tips|€,"
    "Net earnings after commission|€,Projected payout|€\n"
    "Élodie Lefèvre,+33 6 39 98 01 23,elodie@example.com,812.40,14.50,623.80,413.80\n"
).encode()

BROKEN = 'platform = "heetch"\nreport_type = "bolt_weekly"\nlanguages = ["fr"]\n'


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Each test sets its own environment; the settings are read again around it."""
    root = logging.getLogger()  # `serve` sends logs to the CliRunner's stderr: undo that
    handlers, level = root.handlers[:], root.level
    monkeypatch.delenv("FLEETCORE_MAPPINGS_DIR", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def _bolt_weekly_with(extra_spelling: str) -> str:
    text = PACKAGED.joinpath("bolt_weekly.toml").read_text("utf-8")
    old = 'en = ["Net earnings"]'
    assert old in text
    return text.replace(old, f'en = ["Net earnings", "{extra_spelling}"]')


def test_an_extension_file_named_like_a_packaged_one_replaces_it_for_read_report(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnreadableReport):  # the packaged mapping does not know the spelling
        read_report(RENAMED, "weekly.csv", platform="bolt", report_type="bolt_weekly")
    (tmp_path / "bolt_weekly.toml").write_text(
        _bolt_weekly_with("Net earnings after commission"), "utf-8")
    fresh_settings.setenv("FLEETCORE_MAPPINGS_DIR", str(tmp_path))
    get_settings.cache_clear()

    (report,) = read_report(RENAMED, "weekly.csv")
    assert (report.platform, report.report_type) == ("bolt", "bolt_weekly")
    row = report.rows.row(0, named=True)
    assert row["earnings"] == Decimal("623.80")
    assert row["commission"] == Decimal("203.10")  # derived by the identity, as packaged
    assert not report.errors


def test_a_second_file_for_a_packaged_report_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "my_bolt.toml").write_text(_bolt_weekly_with("Net"), "utf-8")
    with pytest.raises(MappingError, match=r"my_bolt\.toml: bolt bolt_weekly is already "
                                           r"described by bolt_weekly\.toml"):
        load_mappings(tmp_path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BROKEN, "missing 'detect'"),
        (BROKEN.replace('"bolt_weekly"', '["bolt_weekly"]') + 'detect = [["a"]]\n'
         "[columns]\n[fields]\n", "report_type is a text"),
        ("platform = [", "not valid TOML"),
        (BROKEN.replace("bolt_weekly", "heetch_weekly")
         + 'detect = [["a"]]\n[columns.a]\ntype = "text"\nfr = ["A"]\n[fields]\n'
           'account_name = "a"\n', "unknown report type 'heetch_weekly'"),
        (_bolt_weekly_with("Net").replace('type = "phone"', 'type = "telephone"'),
         "column phone has unknown type 'telephone'"),
    ],
)
def test_the_check_command_names_the_invalid_file_and_why(
    tmp_path: Path, text: str, reason: str
) -> None:
    (tmp_path / "bolt_weekly.toml").write_text(text, "utf-8")
    result = CliRunner().invoke(cli, ["mappings", "check", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert str(tmp_path / "bolt_weekly.toml") in result.output
    assert reason in result.output.replace("\n", "")


def test_the_check_command_lists_the_packaged_mappings() -> None:
    result = CliRunner().invoke(cli, ["mappings", "check"])
    assert result.exit_code == 0, result.output
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert {
        "bolt bolt_orders api packaged bolt_orders.toml",
        "bolt bolt_weekly en,pt packaged bolt_weekly.toml",
        "uber payments_driver en,fr,pt packaged uber_payments_driver.toml",
        "uber payments_order en,fr,pt packaged uber_payments_order.toml",
        "uber trip_activity en packaged uber_trip_activity.toml",
    } <= lines


def test_the_check_command_lists_an_extension_file_in_place_of_the_packaged_one(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bolt_weekly.toml").write_text(_bolt_weekly_with("Net"), "utf-8")
    fresh_settings.setenv("FLEETCORE_MAPPINGS_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["mappings", "check"])
    assert result.exit_code == 0, result.output
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert f"bolt bolt_weekly en,pt {tmp_path / 'bolt_weekly.toml'}" in lines
    assert "bolt bolt_weekly en,pt packaged bolt_weekly.toml" not in lines


def test_serve_refuses_to_start_with_an_invalid_extension_mapping(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    mappings_dir = tmp_path / "mappings"
    mappings_dir.mkdir()
    (mappings_dir / "heetch.toml").write_text(BROKEN, "utf-8")
    fresh_settings.setenv("FLEETCORE_ENV", "development")
    fresh_settings.setenv("FLEETCORE_DATA_DIR", str(tmp_path / "data"))
    fresh_settings.setenv("FLEETCORE_MAPPINGS_DIR", str(mappings_dir))
    # Unreachable: were the mapping not checked first, start-up would fail here instead.
    fresh_settings.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    for name in ("CLERK_JWT_KEY", "CLERK_JWKS_URL", "SENTRY_DSN"):
        fresh_settings.delenv(name, raising=False)
    get_settings.cache_clear()

    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2, result.output
    output = result.output.replace("\n", "")
    assert f"Refusing to start: invalid report mapping: {mappings_dir / 'heetch.toml'}: " \
           "missing 'detect'" in output


def test_the_mapping_guide_documents_every_key_type_and_field() -> None:
    """docs/mappings.md is the reference of the format: nothing the loader accepts is missing."""
    from fleetcore.revenue.models import ReportType
    from fleetcore.revenue.reports.mapping import _TOP_LEVEL_KEYS, COLUMN_TYPES, MAPPABLE_FIELDS

    guide = (Path(__file__).parents[2] / "docs" / "mappings.md").read_text("utf-8")
    named = {*_TOP_LEVEL_KEYS, *COLUMN_TYPES, *MAPPABLE_FIELDS, *(t.value for t in ReportType),
             "scale", "empty", "sum", "prefer", "coalesce", "join", "FLEETCORE_MAPPINGS_DIR"}
    missing = sorted(n for n in named if f"`{n}`" not in guide and f"{n} =" not in guide
                     and f"[{n}" not in guide and f"`[{n}]`" not in guide)
    assert missing == []
    assert "../shared" not in guide


# A made-up export shape (not any platform's real one) for a platform with no packaged mapping:
# what an operator's FLEETCORE_MAPPINGS_DIR mapping for it goes through.
INVENTED = """
platform = "heetch"
report_type = "payments_driver"
languages = ["fr"]
detect = [["driver_id", "net"]]
required = [["driver_id"], ["net"]]
unique = ["platform_account_ref"]
identity = ["fare_gross", "-commission"]

[required_values]
platform_account_ref = "missing driver id"

[columns.driver_id]
type = "account_id"
fr = ["Identifiant (exemple)"]

[columns.gross]
type = "money"
fr = ["Brut (exemple)"]

[columns.fee]
type = "money"
fr = ["Frais (exemple)"]

[columns.net]
type = "money"
empty = "net is empty"
fr = ["Net (exemple)"]

[fields]
platform_account_ref = "driver_id"
fare_gross = "gross"
commission = "fee"
earnings = "net"
"""


def test_an_extension_mapping_for_another_platform_is_previewed_by_the_import_command(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch, test_database: Any, platforms: None,
    make_tenant: Callable[..., Any],
) -> None:
    mappings_dir = tmp_path / "mappings"
    mappings_dir.mkdir()
    (mappings_dir / "example.toml").write_text(INVENTED, "utf-8")
    report = tmp_path / "week.csv"
    report.write_text("Identifiant (exemple);Brut (exemple);Frais (exemple);Net (exemple)\n"
                      "drv-1;100,00;25,00;75,00\n"
                      "drv-2;100,00;25,00;70,00\n", "utf-8")
    fresh_settings.setenv("FLEETCORE_DATA_DIR", str(tmp_path / "data"))
    fresh_settings.setenv("DATABASE_URL", test_database.app_url)
    fresh_settings.setenv("FLEETCORE_MAPPINGS_DIR", str(mappings_dir))
    get_settings.cache_clear()
    world = make_tenant()

    result = CliRunner().invoke(cli, ["import", str(report), "--tenant", world.slug,
                                      "--period-start", "2026-11-16", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["platform"], summary["report_type"]) == ("heetch", "payments_driver")
    assert (summary["rows_total"], summary["rows_valid"], summary["rows_rejected"]) == (2, 1, 1)
    assert "do not add up" in summary["errors"][0]["reason"]
    assert summary["status"] == "validated"


def test_the_import_command_names_an_invalid_extension_mapping(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    (tmp_path / "heetch.toml").write_text(BROKEN, "utf-8")
    report = tmp_path / "week.csv"
    report.write_text("a,b\n1,2\n", "utf-8")
    fresh_settings.setenv("FLEETCORE_MAPPINGS_DIR", str(tmp_path))
    fresh_settings.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["import", str(report), "--tenant", "any"])
    assert result.exit_code == 2, result.output
    assert f"Invalid report mapping: {tmp_path / 'heetch.toml'}: missing 'detect'" in \
        result.output.replace("\n", "")

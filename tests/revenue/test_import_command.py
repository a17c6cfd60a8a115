"""``fleetcore import FILE --tenant SLUG [--commit] [--json]`` runs the API's import service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_imports_api import D1, WEEK_FILE
from typer.testing import CliRunner

from api_support import TenantWorld
from fleetcore.cli import app as cli
from fleetcore.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, test_database: Any,
            platforms: None) -> Iterator[Path]:
    monkeypatch.setenv("FLEETCORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", test_database.app_url)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_import_prints_the_summary_and_commits(
    cli_env: Path, make_tenant: Callable[..., TenantWorld],
    read_system: Callable[..., list[Any]],
) -> None:
    world = make_tenant()
    report = cli_env / "week.csv"
    report.write_bytes(WEEK_FILE)
    runner = CliRunner()

    preview = runner.invoke(cli, ["import", str(report), "--tenant", world.slug,
                                  "--currency", "EUR", "--json"])
    assert preview.exit_code == 0, preview.output
    summary = json.loads(preview.stdout)
    assert (summary["platform"], summary["report_type"]) == ("uber", "payments_order")
    assert (summary["rows_total"], summary["rows_valid"], summary["rows_rejected"]) == (7, 5, 2)
    assert {a["platform_account"] for a in summary["accounts"]} >= {D1}
    assert all(a["driver_id"] is None for a in summary["accounts"])
    assert [e["row"] for e in summary["errors"]] == [5, 7]
    assert summary["status"] == "validated"

    # Importing the same file again replaces the preview; with --commit, it commits.
    again = runner.invoke(cli, ["import", str(report), "--tenant", world.slug,
                                "--currency", "EUR", "--commit", "--json"])
    assert again.exit_code == 0, again.output
    replaced = json.loads(again.stdout)
    assert replaced["replaces"] == [summary["id"]]
    assert replaced["status"] == "committed"
    assert replaced["id"] != summary["id"]
    imports = read_system("SELECT id, status FROM rev_revenue_imports WHERE tenant_id = :t",
                          t=world.id)
    assert [(str(i.id), i.status) for i in imports] == [(replaced["id"], "committed")]
    # A committed file is not replaced: it is a duplicate, with a pointer to it.
    third = runner.invoke(cli, ["import", str(report), "--tenant", world.slug,
                                "--currency", "EUR", "--json"])
    assert third.exit_code == 1
    assert json.loads(third.stdout)["existing_import_id"] == replaced["id"]

    other = make_tenant()
    committed = runner.invoke(cli, ["import", str(report), "--tenant", other.slug,
                                    "--currency", "EUR", "--commit"])
    assert committed.exit_code == 0, committed.output
    rows = read_system("SELECT count(*) AS n FROM rev_import_rows WHERE tenant_id = :t",
                       t=other.id)
    assert rows[0].n == 5

    unknown = runner.invoke(cli, ["import", str(report), "--tenant", "no-such-fleet"])
    assert unknown.exit_code == 1


def test_import_refuses_files_over_the_limits_with_the_reason(
    cli_env: Path, make_tenant: Callable[..., TenantWorld], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fleetcore.revenue.reports import limits

    world = make_tenant()
    runner = CliRunner()
    deep = cli_env / "orders.json"
    deep.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    refused = runner.invoke(cli, ["import", str(deep), "--tenant", world.slug, "--json"])
    assert refused.exit_code == 1
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    assert json.loads(refused.stdout)["status"] == 422
    assert "levels deep" in refused.output

    report = cli_env / "week.csv"
    report.write_bytes(WEEK_FILE)
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 1024)
    too_big = runner.invoke(cli, ["import", str(report), "--tenant", world.slug])
    assert too_big.exit_code == 1
    assert "The file is larger than 1 KB." in too_big.output

"""Screenshots of the console's main pages for the README, on the demo tenant.

    python docs/screenshots/take.py                      # a fresh server on a temporary data dir
    python docs/screenshots/take.py --url http://127.0.0.1:8000   # a running development server

Without ``--url`` it starts ``fleetcore serve`` (development, no Clerk key, embedded PostgreSQL,
demo tenants) on a free port of 127.0.0.1 in a temporary data directory, signs in through the
demo sign-in as the owner of ``lumiere-vtc``, and saves one PNG per page next to this file.
Chromium comes from Debian (``apt-get install -y chromium``); Playwright drives it.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OWNER = "owner@lumiere-vtc.example"
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready in {seconds:.0f} s")


@contextmanager
def fresh_server() -> Iterator[str]:
    """``fleetcore serve`` with the demo tenants on a temporary data dir."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="fleetcore-shots-") as data_dir:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "CLERK_"))}
        env.update(FLEETCORE_DATA_DIR=data_dir, FLEETCORE_ENV="development")
        process = subprocess.Popen(  # noqa: S603
            # fleetcore.cli has no ``__main__`` guard: call its entry point.
            [sys.executable, "-c", "from fleetcore.cli import main; main()", "serve",
             "--port", str(port), "--no-worker"], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url, 600)  # the demo data takes minutes on a loaded machine
            yield url
        finally:
            process.terminate()
            process.wait(timeout=60)


def shoot(page: Page, url: str, path: str, name: str, *, full_page: bool = True) -> None:
    """Open ``path`` and save ``<name>.png``."""
    page.goto(url + path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=full_page)
    print(f"{name}.png  {path}")


def revenue(page: Page, url: str) -> None:
    """Import last week's Uber report (written by ``fleetcore.demo.reports``, with malformed
    rows and drivers the fleet has not linked yet), link four of the five accounts to demo
    drivers, photograph the preview, commit, compute the week's settlements and photograph
    them."""
    from datetime import date, timedelta

    from fleetcore.demo.reports import (
        inject_bad_number,
        inject_duplicate,
        sample_drivers,
        to_csv,
        uber_payments_order,
    )

    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    report = uber_payments_order(sample_drivers(5, seed=11), monday, trips_per_driver=6,
                                 seed=11)
    report = inject_duplicate(inject_bad_number(report, 4, "your_earnings", "12,3,4"), 2)
    page.goto(f"{url}/app/imports/new")
    page.locator("#file").set_input_files(files=[{
        "name": f"uber-payments-{monday.isoformat()}.csv", "mimeType": "text/csv",
        "buffer": to_csv(report)}])
    page.locator("#upload-form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/app/imports/[0-9a-f-]{36}$"))
    detail = page.url
    for option in range(1, 5):
        form = page.locator("form.link-account").first
        form.locator("select").select_option(index=option * 3)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("networkidle")
    shoot(page, url, detail.removeprefix(url), "import")
    page.locator("button[data-action=commit]").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{url}/app/settlements?week={monday.isoformat()}")
    page.locator("#compute button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/app/settlements\?week=.*"))
    first = page.locator("table.striped tbody tr td a").first.get_attribute("href")
    shoot(page, url, first or "/app/settlements", "settlement")
    for _ in range(10):  # 50 drafts a page: confirm page after page (the dialog says yes)
        page.goto(f"{url}/app/settlements?week={monday.isoformat()}&status=draft")
        confirm = page.locator("#bulk-confirm button[type=submit]")
        if not confirm.count():
            break
        confirm.click()
        page.wait_for_selector(".flash")
        if (page.locator(".flash").text_content() or "").strip().startswith("0 confirmed"):
            break  # those left need terms: they stay drafts
    shoot(page, url, f"/app/settlements?week={monday.isoformat()}", "settlements",
          full_page=False)


def french_iban(account: int) -> str:
    """A valid French IBAN (bank 30006, branch 00001) with its RIB key and check digits."""
    bank, branch = 30006, 1
    key = 97 - (89 * bank + 15 * branch + 3 * account) % 97
    bban = f"{bank:05d}{branch:05d}{account:011d}{key:02d}"
    check = 98 - int(bban + "152700") % 97  # F=15, R=27, then "00"
    return f"FR{check:02d}{bban}"


def payouts(page: Page, url: str) -> str:
    """The fleet's own IBAN, a bank account for each driver the week owes, a SEPA batch
    drafted and approved: photograph it. Returns the batch's path."""
    page.goto(f"{url}/app/settings")
    page.locator("#debtor_name").fill("Lumière VTC")
    page.locator("#debtor_iban").fill(french_iban(12345678901))
    page.locator("#payouts button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{url}/app/payouts")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/app/payouts/[0-9a-f-]{36}$"))
    batch = page.url.removeprefix(url)
    drivers = [h for h in page.locator("table.striped tbody td a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))") if h]
    for number, driver in enumerate(drivers, start=1):
        page.goto(f"{url}{driver}/bank-accounts/new")
        page.locator("#iban").fill(french_iban(98765432100 + number))
        page.locator("form.card button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/app/drivers/[0-9a-f-]{36}.*"))
    page.goto(url + batch)
    page.locator("form[action$='/approve'] button").click()
    page.wait_for_selector(".flash")
    shoot(page, url, batch, "payouts", full_page=False)
    return batch


def statements(page: Page, url: str, phone: Page) -> None:
    """The driver's statement of last week in the console, then on the driver's phone."""
    from datetime import date, timedelta

    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    page.goto(f"{url}/app/settlements?week={monday.isoformat()}")
    names = page.locator("table.striped tbody td a strong").all_inner_texts()
    page.locator("table.striped tbody td a").first.click()
    page.locator("#driver-statement").click()
    page.wait_for_load_state("networkidle")
    shoot(page, url, page.url.removeprefix(url), "statement", full_page=False)
    # A driver of that week who signs in to the portal (the demo gives most of them access).
    phone.goto(f"{url}/app/sign-in?tenant=lumiere-vtc&next=/driver")
    for name in names:
        member = phone.locator("button.member", has_text=name)
        if member.count():
            member.first.click()
            phone.wait_for_url(f"{url}/driver")
            shoot(phone, url, f"/driver/statements?week={monday.isoformat()}", "portal-phone")
            return
    print("no driver of the week signs in to the portal: portal-phone.png not taken")


def take(url: str) -> None:
    """Sign in as the demo owner and photograph the main pages."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())  # the console's "are you sure?"
        page.goto(f"{url}/app/sign-in")
        shoot(page, url, "/app/sign-in", "sign-in", full_page=False)
        page.locator(f'button.member[data-email="{OWNER}"]').click()
        page.wait_for_url(f"{url}/app")
        revenue(page, url)
        payouts(page, url)
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                    device_scale_factor=2).new_page()
        statements(page, url, phone)
        shoot(page, url, "/app", "dashboard")
        shoot(page, url, "/app/vehicles", "vehicles", full_page=False)
        first = page.locator("table tbody tr td a").first.get_attribute("href")
        shoot(page, url, first or "/app/vehicles", "vehicle")
        shoot(page, url, "/app/drivers", "drivers", full_page=False)
        shoot(page, url, "/app/assignments/new", "assignment-form", full_page=False)
        # The first vehicle has a driver: giving it to another one is refused, and says why.
        vehicle_id = (first or "").rsplit("/", 1)[-1]
        page.goto(f"{url}/app/assignments/new?vehicle_id={vehicle_id}")
        page.locator("#driver_id").select_option(index=3)
        page.locator("form.card button[type=submit]").click()
        page.wait_for_selector("#form-errors")
        page.screenshot(path=str(HERE / "assignment-refused.png"))
        print("assignment-refused.png")
        shoot(page, url, "/app/documents?status=pending", "documents", full_page=False)
        shoot(page, url, "/app/maintenance", "maintenance", full_page=False)
        shoot(page, url, "/app/tasks", "tasks", full_page=False)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running development server (demo sign-in enabled).")
    args = parser.parse_args()
    if args.url:
        take(args.url.rstrip("/"))
        return
    with fresh_server() as url:
        take(url)


if __name__ == "__main__":
    main()

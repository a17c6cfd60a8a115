"""A French fleet manager runs the console in French: the member's own language (chosen from
the menu next to their e-mail), else the fleet's default language (a setting), else the
browser's; navigation, headings, table headers, flash messages and form errors are French, and
numbers, dates and money are written the French way. English stays the same word for word."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from typing import Any

from fleet_support import Fleet
from web_support import Browser

NARROW_NBSP = "\u202f"


def _text(response: Any) -> str:
    return unescape(response.text)


def test_a_member_switches_the_console_to_french_and_back(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.vehicle(acquired_on="2024-03-15", acquisition_cost={
        "amount": "23450.50", "currency": "EUR"})
    browser = signed_in(fleet.world)
    english = browser.get("/app/vehicles")
    assert '<html lang="en"' in english.text
    assert "Make and model" in english.text
    assert ">Vehicles</a>" in english.text

    switched = browser.post("/app/language", {"language": "fr", "next": "/app/vehicles"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/app/vehicles"
    assert fleet.sql("SELECT preferred_language FROM adm_members WHERE id = :m",
                     m=fleet.world.person("owner").member_id)[0][0] == "fr"
    page = browser.get("/app/vehicles")
    text = _text(page)
    assert '<html lang="fr"' in page.text
    assert "La console parle désormais français." in text  # the flash, in the new language
    assert ">Véhicules</a>" in text  # navigation
    assert ">Chauffeurs</a>" in text
    assert "<h2>Exploitation</h2>" in text
    assert "Marque et modèle" in text  # a table header
    assert "Ajouter un véhicule" in text  # a button
    assert "Make and model" not in text
    assert "Add a vehicle" not in text

    detail = _text(browser.get(f"/app/vehicles/{vehicle['id']}"))
    assert f"23{NARROW_NBSP}450,50\u00a0€" in detail  # money, French notation
    assert "15/03/2024" in detail  # a day, French order
    assert "2024-03-15" not in detail
    assert "Année du modèle" in detail

    refused = browser.post("/app/vehicles", {"licence_plate": "", "country": "FR"},
                           page="/app/vehicles/new")
    assert refused.status_code == 422
    form = _text(refused)
    assert "Choisissez une marque" in form  # a form error in people's (French) words
    assert "Ajouter le véhicule" in form

    back = browser.post("/app/language", {"language": "en", "next": "/app/vehicles"})
    assert back.status_code == 303
    again = browser.get("/app/vehicles")
    assert '<html lang="en"' in again.text
    assert "The console now speaks English." in _text(again)
    assert "Make and model" in again.text


def test_the_fleets_default_language_applies_to_members_who_chose_none(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    url = "/v1/tenant-settings"
    etag = fleet.client.get(url, headers=fleet.headers()).headers["ETag"]
    changed = fleet.client.patch(url, json={"language": "fr"},
                                 headers={**fleet.headers(), "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == "fr"

    dispatcher = signed_in(fleet.world, "dispatcher")  # invited with the default 'en'
    dashboard = dispatcher.get("/app", headers={"Accept-Language": "en-GB"})
    assert '<html lang="fr"' in dashboard.text
    assert "Cette semaine chez" in _text(dashboard)

    # A member who chose English keeps it, whatever the fleet's default.
    assert dispatcher.post("/app/language", {"language": "en"}).status_code == 303
    assert '<html lang="en"' in dispatcher.get("/app").text

    # The settings page shows and saves the fleet's language (the owner edits it).
    owner = signed_in(fleet.world)
    settings = owner.get("/app/settings")
    assert '<option value="fr" selected>' in settings.text
    current = fleet.client.get(url, headers=fleet.headers()).json()
    form = {k: str(current[k]) for k in ("name", "default_currency", "timezone", "version")}
    saved = owner.post("/app/settings", {**form, "language": ""}, page="/app/settings")
    assert saved.status_code == 303, saved.text[:800]
    assert fleet.client.get(url, headers=fleet.headers()).json()["language"] is None
    refused = owner.post("/app/settings", {**form, "version": str(current["version"] + 1),
                                           "language": "x"}, page="/app/settings")
    assert refused.status_code == 422
    assert 'id="language-error"' in refused.text
    viewer = signed_in(fleet.world, "viewer")  # the same browser, now another member
    assert '<html lang="en"' in viewer.get("/app").text


def test_the_browsers_language_decides_when_neither_member_nor_fleet_did(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    french = browser.get("/app/vehicles", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr"' in french.text
    assert "Marque et modèle" in _text(french)
    german = browser.get("/app/vehicles", headers={"Accept-Language": "de-DE"})
    assert '<html lang="en"' in german.text
    # A refusal is explained in French too (a driver's role opens no fleet page).
    refused = signed_in(fleet.world, "driver").get("/app/vehicles",
                                                   headers={"Accept-Language": "fr"})
    assert refused.status_code == 403
    assert "Permission manquante" in _text(refused)
    assert "Il faut la permission « vehicles:read »." in _text(refused)
    # Pages without a member (the error page of an unknown address) follow the browser too.
    missing = browser.get("/app/no-such-page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404
    assert "Introuvable" in _text(missing)


def test_every_page_renders_in_french(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.compliant_vehicle()
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    browser = signed_in(fleet.world)
    assert browser.post("/app/language", {"language": "fr"}).status_code == 303
    pages = {
        "/app": "Cette semaine chez",
        "/app/vehicles": "Marque et modèle",
        f"/app/vehicles/{vehicle['id']}": "Année du modèle",
        "/app/vehicles/new": "Ajouter un véhicule",
        "/app/drivers": "Chauffeurs",
        f"/app/drivers/{driver}": "Conditions de coopération",
        "/app/drivers/new": "Prénom",
        "/app/assignments": "Attributions",
        "/app/assignments/new": "Attribuer un véhicule",
        "/app/assignments/calendar": "Calendrier des attributions",
        "/app/shifts": "Services",
        "/app/shift-series": "Séries de services",
        "/app/documents": "Documents",
        "/app/maintenance": "Entretien à faire",
        "/app/tasks": "Tâches",
        "/app/trips": "Courses",
        "/app/imports": "Imports",
        "/app/reconciliations": "Rapprochement",
        "/app/settlements": "Décomptes",
        "/app/payouts": "Versements",
        "/app/invoices": "Factures",
        "/app/tolls": "Péages",
        "/app/fines": "Amendes",
        "/app/settings": "Langue de la console",
        "/app/members": "Membres",
        "/app/audit": "Journal d'audit",
        "/app/support": "Support",
        "/app/search?q=Petit": "Nadia Petit",
    }
    for path, words in pages.items():
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:600])
        assert '<html lang="fr"' in response.text, path
        assert words in _text(response), (path, words)

"""Accessibility checks in the browser: the vendored axe-core (``tests/e2e/vendor/axe-core``)
run on the page as it is, failing on every ``serious`` or ``critical`` violation with what
and where.

axe is evaluated through the DevTools protocol (``page.evaluate``), so the console's content
security policy, which allows no inline script, does not have to be loosened for the tests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).parent / "e2e" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page now (WCAG 2.x A and AA rules and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;undefined")
    found: list[dict[str, Any]] = page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ["violations"]});
        return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "),
                                      summary: n.failureSummary}))}));
    }""")
    return found


def blocking(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations only."""
    return [v for v in violations(page) if v["impact"] in BLOCKING]


def describe(found: list[dict[str, Any]]) -> str:
    """The violations as lines a person can act on: rule, impact, help and the elements."""
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"][:5])
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """No serious or critical axe violation on the page as it is now."""
    found = blocking(page)
    assert not found, f"{page.url}\n{describe(found)}"

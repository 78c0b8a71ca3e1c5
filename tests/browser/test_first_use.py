"""Every page as a first-time user meets it, in English and French, on a desktop (1920×1080) and
a phone (390×844): axe-core finds no critical or serious violation, and no visible text is
"null", "undefined", "NaN", a raw error code or an untranslated message key, and no text is cut
(a select narrower than its chosen option, an ellipsis).

Viewers sit in San Francisco (English) and Paris (French) time: most real users, and the zones in
which the page once printed "null" next to the time-zone chips. The screenshots of
docs/screenshots.md come from here (tests/screenshots/first-use/).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    PHONE,
    SCREENSHOTS,
    WIDE,
    axe_violations,
    book_slot,
    issue_key,
    log_in,
    taken_meanwhile,
)
from tests.conftest import ADA, ADMIN, CANTINE_A, STAFF_PARIS

pytestmark = pytest.mark.browser

VIEWERS = {"en": ("en-US", "America/Los_Angeles"), "fr": ("fr-FR", "Europe/Paris")}
SIZES = {"1920x1080": WIDE, "390x844": PHONE}
#: Where the staff console's forms once ran into each other.
LAPTOP = {"width": 1440, "height": 900}
SHOTS = SCREENSHOTS / "first-use"
PITCH_START = "2027-03-16T16:00:00Z"
#: The longest venue name of the demo, once cut to "San Francisco — Mis…".
SF_VENUE = "San Francisco — Mission Bay Commons"

STRAY_TEXT = """async () => {
    const { MESSAGES } = await import('/static/messages.js');
    const keys = new Set(Object.keys(MESSAGES.en));
    const codes = new Set([...keys].filter((k) => k.startsWith('error.')).map((k) => k.slice(6)).filter((c) => c.includes('_')));
    const visible = [document.body.innerText];
    for (const input of document.querySelectorAll('input, select, textarea')) {
        if (input.offsetParent !== null && input.type !== 'hidden') visible.push(input.value);
    }
    const found = [];
    for (const text of visible) {
        for (const word of ['null', 'undefined', 'NaN', '[object Object]']) {
            if (new RegExp(`(^|[^\\\\w])${word.replace(/[[\\]]/g, '\\\\$&')}($|[^\\\\w])`).test(text)) found.push(word);
        }
        for (const token of text.split(/[\\s«»“”"(),:;!?]+/)) {
            const bare = token.replace(/[.…]+$/, '');
            if (keys.has(bare) || codes.has(bare)) found.push(bare);
        }
    }
    return found;
}"""

CUT_TEXT = """() => {
    // Text that does not fit its box: a select narrower than its chosen option, or an element
    // that clips or ellipsizes its own overflowing text.
    const cut = [];
    const canvas = document.createElement('canvas').getContext('2d');
    // Visually hidden text (1 px, clipped) is for screen readers and is meant to be "cut".
    const visible = (el) => el.offsetParent !== null && el.getBoundingClientRect().width > 1 && !el.closest('.visually-hidden');
    for (const select of document.querySelectorAll('select')) {
        if (!visible(select) || select.selectedIndex < 0) continue;
        const style = getComputedStyle(select);
        canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = select.options[select.selectedIndex].text;
        const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
        if (canvas.measureText(text).width > room) cut.push(`select #${select.id}: ${text}`);
    }
    for (const el of document.querySelectorAll('body *')) {
        if (!visible(el) || !el.textContent.trim() || ['svg', 'SELECT', 'INPUT', 'TEXTAREA'].includes(el.tagName)) continue;
        const style = getComputedStyle(el);
        const clips = style.textOverflow === 'ellipsis' || (style.overflowX === 'hidden' && style.whiteSpace === 'nowrap');
        if (clips && el.scrollWidth > el.clientWidth + 1) cut.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.trim().slice(0, 60)}`);
    }
    // Controls of one form drawn over each other (a date field running under the next one).
    for (const form of document.querySelectorAll('form')) {
        const controls = [...form.querySelectorAll('input, select, button, textarea')].filter(visible)
            .map((el) => [el, el.getBoundingClientRect()]);
        controls.forEach(([a, ra], i) => controls.slice(i + 1).forEach(([b, rb]) => {
            const overlap = ra.left < rb.right - 1 && rb.left < ra.right - 1 && ra.top < rb.bottom - 1 && rb.top < ra.bottom - 1;
            if (overlap) cut.push(`#${form.id}: ${a.id || a.name || a.tagName} overlaps ${b.id || b.name || b.tagName}`);
        }));
    }
    return cut;
}"""


async def check(
    page: Any, state: str, lang: str, shoot: bool = False, sizes: dict[str, Any] = SIZES
) -> list[str]:
    """At both sizes: stray text and critical or serious axe violations, as readable lines
    (empty when all is well); screenshots if asked."""
    problems: list[str] = []
    for size_name, size in sizes.items():
        await page.set_viewport_size(size)
        await page.wait_for_function("document.fonts.status === 'loaded'")
        label = f"{state}, {lang}, {size_name}"
        problems += [f"{label}: stray text {word!r}" for word in await page.evaluate(STRAY_TEXT)]
        problems += [f"{label}: cut text {what}" for what in await page.evaluate(CUT_TEXT)]
        for violation in await axe_violations(page, label):
            if violation["impact"] in ("critical", "serious"):
                problems.append(f"{label}: {violation['impact']} {violation['id']} at {violation['targets']}")
        if shoot and size_name in SIZES:
            SHOTS.mkdir(parents=True, exist_ok=True)
            # A device key on screen is masked: the pictures are published in docs/.
            await page.screenshot(
                path=str(SHOTS / f"{state}-{lang}-{size_name}.png"),
                full_page=True,
                mask=[page.locator("#device-key")],
            )
    await page.set_viewport_size(WIDE)
    return problems


async def viewer(new_page: Any, client: Any, lang: str, path: str) -> Any:
    """A first-time visitor's page at ``path``: the language's browser locale and city's zone."""
    locale, zone = VIEWERS[lang]
    page = await new_page(locale=locale, timezone_id=zone)
    await page.goto(str(client.make_url(path)))
    return page


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_booking_app(client: Any, new_page: Any, lang: str) -> None:
    page = await viewer(new_page, client, lang, "/")
    problems: list[str] = []
    await page.wait_for_selector("body[data-ready]", state="attached")
    await page.wait_for_selector("#week-grid .slot")
    problems += await check(page, "booking-logged-out", lang)

    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    await page.fill("#week-date", "2027-03-16")
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]')
    await book_slot(page, PITCH_START, "Seed round" if lang == "en" else "Levée de fonds")
    await page.locator(".session").first.wait_for()
    await page.locator("#toast.show").wait_for()
    problems += await check(page, "booking", lang, shoot=True)

    # A slot someone else takes while the dialog is open: the error, as shown.
    slot = page.locator(".slot").nth(3)
    start = await slot.get_attribute("data-start")
    await slot.click()
    await page.fill("#book-title-input", "Too late")
    await taken_meanwhile(client, start)
    await page.click("#book-form [type=submit]")
    await page.locator("#book-summary .field-error").wait_for()
    problems += await check(page, "booking-conflict", lang)
    assert problems == []
    assert page.problems == []


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_staff_console(client: Any, new_page: Any, lang: str) -> None:
    page = await viewer(new_page, client, lang, "/staff")
    problems: list[str] = []
    await page.wait_for_selector("#signin:not([hidden])")
    problems += await check(page, "staff-sign-in", lang)

    await log_in(page, STAFF_PARIS)
    await page.wait_for_selector("#console:not([hidden])")
    await page.locator(f"#booth-{CANTINE_A} [data-action=issue]").click()
    await page.wait_for_selector("#device-key")
    await page.locator(f"#booth-{CANTINE_A} [data-action=rotate]").wait_for()
    problems += await check(page, "staff", lang, shoot=True, sizes={**SIZES, "1440x900": LAPTOP})
    # Replacing the key asks first.
    await page.locator(f"#booth-{CANTINE_A} [data-action=rotate]").click()
    await page.wait_for_selector("#rotate-dialog[open]")
    problems += await check(page, "staff-rotate", lang)
    assert page.problems == []

    # An administrator, on the venue with the longest name: shown whole in the picker and title.
    admin = await viewer(new_page, client, lang, "/staff")
    await log_in(admin, ADMIN)
    await admin.wait_for_selector("#console:not([hidden])")
    await admin.select_option("#venue-select", label=SF_VENUE)
    await admin.locator("#venue-name", has_text="Mission Bay Commons").wait_for()
    await admin.locator("#booth-rows tr", has_text="SF A").wait_for()
    problems += await check(admin, "staff-admin", lang, shoot=True)
    assert problems == []
    assert admin.problems == []


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_kiosk(client: Any, new_page: Any, lang: str) -> None:
    key = await issue_key(client, CANTINE_A)
    page = await viewer(new_page, client, lang, "/kiosk")
    problems: list[str] = []
    await page.wait_for_selector("body[data-screen=pair]", state="attached")
    await page.fill("#device-key", "dk_mistyped")
    await page.click("#pair-form [type=submit]")
    await page.locator("#pair-form .field-error").wait_for()
    problems += await check(page, "kiosk-pair", lang)

    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-conn-state=idle]", state="attached")
    problems += await check(page, "kiosk", lang, shoot=True)

    # The booth opened on a second screen: this one says why it stopped and what to do.
    second = await viewer(new_page, client, lang, "/kiosk")
    await second.fill("#device-key", key)
    await second.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-screen=message]", state="attached")
    problems += await check(page, "kiosk-replaced", lang)
    assert problems == []
    assert page.problems == [] and second.problems == []

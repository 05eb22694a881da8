"""Drawing on the page's canvas with real pointer input: strokes, mouse and touch."""

import math

from playwright.sync_api import Page

Point = tuple[float, float]
# Strokes in fractions of the canvas: a tall vertical bar, and an oval closed on itself.
VERTICAL_STROKE: list[Point] = [(0.5, 0.15 + 0.7 * i / 20) for i in range(21)]
CLOSED_LOOP: list[Point] = [
    (0.5 + 0.24 * math.sin(2 * math.pi * i / 40), 0.5 - 0.33 * math.cos(2 * math.pi * i / 40))
    for i in range(43)
]


def to_page(page: Page, points: list[Point]) -> list[Point]:
    box = page.locator("#pad").bounding_box()
    assert box is not None, "the drawing canvas is not visible"
    return [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]


def draw_with_mouse(page: Page, points: list[Point]) -> None:
    """Draw one stroke with real mouse input (the page sees pointer events of type mouse)."""
    first, *rest = to_page(page, points)
    page.mouse.move(*first)
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


def draw_with_touch(page: Page, points: list[Point]) -> None:
    """Draw one stroke with a finger, through Chromium's own touch input (pointer type touch)."""
    cdp = page.context.new_cdp_session(page)
    (x0, y0), *rest = to_page(page, points)
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]}
    )
    for x, y in rest:
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()

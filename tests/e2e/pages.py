"""What browser tests do to a page: wait for what they watch (poll a condition, never
sleep for it), and sign in on the form every signed-in example serves."""

from __future__ import annotations

import time
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

#: How long a browser test waits for what it watches, unless it says otherwise.
WAIT = 15.0


def poll(condition: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it returns something true (returned); fail after
    ``timeout`` seconds, saying ``what`` did not happen. An element that went stale
    while the condition read it (the page navigated, a form posted) means not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


def submit_sign_in(driver: Any, user: str, password: str = "demo") -> None:
    """Fill and send the examples' sign-in form (``#username``, ``#password``,
    ``#sign-in``), on the page the driver shows."""
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()

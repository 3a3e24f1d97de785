"""Weak signing secrets: refused where they sign logins, warned about elsewhere.

The secret signs quart-auth's cookie. Anyone who knows it can sign a cookie for any
user, an administrator included, and that cookie passes every check (the socket's,
the admin API's, the routes'). Keys copied from a README or an example
(``change-me``) are the first an attacker tries, so a key is weak when it is:

* shorter than ``MIN_LENGTH`` (16) characters; or
* once lower-cased and stripped of everything but letters, nothing but words of
  ``PLACEHOLDER_WORDS`` run together: ``change-me``, ``Your_Secret_Key_Here``,
  ``change-me-in-production-2024``, ``my-super-secret-dev-key``.

A random key (``python -c 'import secrets; print(secrets.token_hex(32))'``) of 16
characters or more is never weak: its letters are ``a`` to ``f`` and no placeholder
word is made of those alone (tests/auth/test_secret_key.py checks both).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

#: Shorter keys are weak whatever they hold.
MIN_LENGTH = 16
#: The command every refusal and warning suggests.
GENERATE = "python -c 'import secrets; print(secrets.token_hex(32))'"
#: Words placeholder keys are made of (lower case).
PLACEHOLDER_WORDS = frozenset("""
    admin any app application bar baz change changeme cookie dash default demo dev
    develop development django do dont example flask foo for here hello in insecure is
    it just keep key keys local me must my never not of only our pass passwd password
    please prod production put quart quartdash random real really replace sample secret
    secrets session sessions set signing so some staging string super test testing tests
    the this to todo top unsafe use value very word world xxx your
""".split())
_LONGEST_WORD = max(map(len, PLACEHOLDER_WORDS))
_NOT_LETTER = re.compile(r"[^a-z]+")


def _only_placeholder_words(text: str) -> bool:
    """Whether ``text`` (not empty) splits into words of ``PLACEHOLDER_WORDS``: a
    word break, where ``ends[i]`` says whether ``text[:i]`` does."""
    if not text:
        return False
    ends = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        ends[end] = any(ends[start] and text[start:end] in PLACEHOLDER_WORDS
                        for start in range(max(0, end - _LONGEST_WORD), end))
    return ends[-1]


def weakness(key: str | bytes) -> str | None:
    """Why ``key`` is a weak secret, or None when it is not (see the module's rules)."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    if len(text) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters"
    if _only_placeholder_words(_NOT_LETTER.sub("", text.lower())):
        return "a placeholder anyone can guess"
    return None


def check_secret_keys(keys: Iterable[str | bytes], *, signs_logins: bool,
                      stacklevel: int = 2) -> None:
    """Refuse (``ValueError``) a weak key among ``keys`` when it signs logins (``auth``),
    else warn: whatever else it signs, such as Quart's session cookie, can be forged."""
    for key in keys:
        reason = weakness(key)
        if reason is None:
            continue
        advice = (f"generate one with {GENERATE} and set it as QUARTDASH_SECRET_KEY "
                  "(or app.server.secret_key)")
        if signs_logins:
            raise ValueError(
                f"the secret key is weak ({reason}): it signs logins, so anyone who "
                f"guesses it can sign in as any user, an admin included; {advice}, or "
                "set none for a random per-process key (one worker, logins end at restart)"
            )
        warnings.warn(f"the secret key is weak ({reason}): what it signs can be forged; "
                      f"{advice}", stacklevel=stacklevel + 1)

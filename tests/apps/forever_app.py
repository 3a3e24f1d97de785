"""``examples.auth_admin`` with logins that never expire: quart-auth's duration None, as
``QUART_AUTH_DURATION = None`` in the app's config gives. quart-auth reads
``auth.duration`` at every use, so setting it after the example built its app is the
same; it skips the start-up warning, which a hypercorn worker would only print."""

from __future__ import annotations

from examples.auth_admin import app, auth

auth.duration = None

__all__ = ["app"]

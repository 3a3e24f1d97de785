"""Private shims: the only modules that touch other packages' internals, one per package
(``dash.py``, ``hypercorn.py`` with wsproto, ``quart.py``).

Nothing here changes another package at import: what patches (``dash.install``,
``hypercorn.install``) is run by ``QuartDash(...)``, so importing quartdash leaves every
other app in the process exactly as it was (tests/compat/test_dash.py).
"""

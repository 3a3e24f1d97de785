"""The texts ``errors_app``'s callbacks put in their exceptions, for the tests to look for.

Apart from ``errors_app`` so that a test imports them without importing the app: the
app's callbacks are ``dash.callback``s, which Dash keeps in a process-wide list until
the next app sets up its server. Imported at collection, they became callbacks of the
first app a ``dash_duo`` test started in the pytest process (their ids missing from that
app's layout: 12 "ID not found in layout" console errors in ``test_lcbc003``).
"""

#: In an exception's text: HTML that must show as text, never run, and a secret the
#: page must not see outside debug mode.
SECRET = "postgres://app:hunter2@db/prod"
MARKUP = "<b>bold</b> & <img src=x onerror=\"window.__xss=1\">"

"""Who may connect, and for how long: the quart-auth session lifecycle and its signals
(``sessions.py``), the origin allowlist of the handshake (``origin.py``), the cross-site
check of state-changing POSTs (``csrf.py``), the admin API (``admin.py``) and the
strength of the signing secret (``secret_key.py``)."""

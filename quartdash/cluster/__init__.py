"""Every worker and host acting as one: the connection registry, ``app.connections``
(``registry.py``), the plain data it shares (``models.py``) and their wire form
(``wire.py``), the backplane's base and in-process form (``backplane.py``), the Redis one
(``redis.py``), and the choice between them (``factory.py``).

Nothing is imported here: the modules import each other's types only one way, and
``auth.sessions`` imports ``models`` before the registry exists."""

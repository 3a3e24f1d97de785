"""Helpers for testing a quartdash app against the real thing, and for benchmarking it.

- ``quartdash.testing.servers``: a real hypercorn serving an app (``hypercorn``), a real
  redis-server (``redis_server``), a TCP relay whose connections can be cut as a network
  failure cuts them (``TcpProxy``), and the polling they need (``wait_http``,
  ``log_shows``). Standard library only.
- ``quartdash.testing.wsclient``: a minimal client of Dash's WebSocket protocol and of
  quartdash's additions to it (resume, acknowledgements), for driving a served app
  without a browser. It needs ``websockets`` (the ``test`` extra), imported only when a
  socket is opened.

This package imports nothing of either module, nor pytest, so importing it costs nothing
and needs no test dependency. More is to come here: an in-process client that keeps a
page's props (``DashClient``) and a pytest plugin with fixtures for the helpers above.
"""

"""From the socket to the callback and back: the sans-I/O protocol and close codes
(``protocol.py``), the handshake and admission (``route.py``), the receive loop, the
callbacks' tasks and the close (``handler.py``), one connection's state
(``connection.py``) with its outbound queue (``outbound.py``) and replay buffer
(``replay.py``, for ``resume.py``), the limits on what a client may cost
(``limits.py``), cookies set over the socket (``handover.py``), the HTTP callback route
(``http.py``), and what the route and handler are given in place of the app
(``services.py``)."""

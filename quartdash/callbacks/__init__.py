"""What a callback sees and where it runs: ``ctx`` and ``set_props`` (``context.py``),
``ctx.websocket`` (``socket.py``), binding a request to its Dash callback and running it,
async on the loop or sync in the pool (``runner.py``, ``threads.py``), and the response
encoder (``encoding.py``)."""

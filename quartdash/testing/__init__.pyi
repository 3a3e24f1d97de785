# The types of quartdash.testing's lazy exports (__init__.py imports them on first use).
from quartdash.testing.client import CallbackFailed as CallbackFailed
from quartdash.testing.client import DashClient as DashClient
from quartdash.testing.page import ANY as ANY

__all__ = ["ANY", "CallbackFailed", "DashClient"]

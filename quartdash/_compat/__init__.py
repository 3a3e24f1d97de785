"""Private shims: the only modules that touch other packages' internals.

Each one is installed by ``QuartDash(...)``, never at import, so importing quartdash
leaves every other app in the process exactly as it was.
"""

"""Per-project rate limits: the decision and its shared store, without HTTP.

``limiter.py`` says which limits a caller's request counts against (classes,
per-project overrides, exempt roles) and keeps requests flowing when the store
fails; ``gcra.py`` is the store: one Lua script on Redis that decides every
class of a request at once. The ASGI side is ``quark/api/ratelimit.py``.
"""

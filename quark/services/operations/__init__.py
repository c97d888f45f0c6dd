"""Operators' reads and bulk work across domains (``quark orphans``, ``quark purge``):
the top of the services' DAG, calling the domain services and reading their tables."""

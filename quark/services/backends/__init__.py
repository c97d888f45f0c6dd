"""Backend work: the outbox (jobs written with each change), the worker that
runs them through the drivers, the jobs API's service (docs/jobs.md)."""

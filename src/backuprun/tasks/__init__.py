"""Work that outlives a request: a durable task queue on an existing engine.

The queue is huey (https://huey.readthedocs.io): SQLite in the embedded default (a file in
the data folder), Redis or PostgreSQL at scale, shared by worker processes on several hosts.
Huey carries delivery, retries with backoff and periodic schedules. What it does not do,
and this package adds, is the "exactly one live run per task, even across dead workers"
rule:

- A *keyed* task (``walk:528:17``) is written to a ledger table in the backup server's
  database when it is submitted and removed when it completes.
- A worker runs a keyed task only while it holds the task's lease (an expiring row in the
  ledger, renewed by a heartbeat while the task runs): two workers never run one key at once.
- A reconciler (a periodic huey task, also run when workers start) enqueues again every
  ledger entry whose lease has expired and whose next try is due: a killed worker's task
  is taken up by another worker once its lease runs out.
- A task whose retries are exhausted stays in the ledger with its last error and is tried
  again after a cool-down: nothing is lost.

Tasks must therefore be idempotent (each step checks whether it is already done).

Modules: ``queue`` (the huey instance for a URL, keyed tasks, in-process workers),
``ledger`` (the ledger table and its lease operations).
"""

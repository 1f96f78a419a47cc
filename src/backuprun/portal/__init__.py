"""The portal: accounts, subusers, sessions, e-mail, and the ``api.php`` wire format.

Layers, each importing only those below it:
- ``cli``: ``backuprun serve`` (uvicorn, https, reverse-proxy trust, several processes);
  ``startup``: what its main process checks and prepares first (one line, an exit code).
- ``app``: the Starlette application: one endpoint, ``POST /api.php``, and ``pages`` (the
  password reset page); size cap; lifespan (per process: database engine, mail, services).
- ``forms``: reading the request (both encodings, UTF-8, size cap); ``wire``: XML answers.
- ``calls``: the dispatch table from ``apiCALL`` to a handler, one module per domain.
  Handlers parse fields and render XML; they hold no business rules.
- ``accounts`` (and later ``services``, ``tasks``): the business rules, shared by the API,
  the dashboard and the CLI.
- ``db`` (SQLAlchemy models; migrations are ``backuprun.schema``), ``mail``, ``errors``.

Rules: every answer is a well-formed XML document (``<response>``, ``<status>`` first);
application errors are HTTP 200 with a stable code (``errors``); nothing a user sent is
trusted, logged in clear (passwords, tokens, codes), or echoed unescaped.
"""

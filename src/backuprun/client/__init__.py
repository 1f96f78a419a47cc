"""The portal's client: ``backuprun portal ...``, for people and scripts that would rather not
write a PHP client.

Modules:
- :mod:`api`: a small client of ``api.php`` (httpx): sends urlencoded forms, reads the XML
  answers (defusedxml), raises :class:`api.ApiError` with the server's code and message.
- :mod:`session`: the session file (``~/.config/backuprun/session.json``, mode 0600): the
  portal's URL and the session cookie ``login`` set.
- :mod:`tasks`: following a backup or restore task, as the activation page does, by
  polling ``getBackupStatus``; :mod:`waiting`: how ``backup`` and ``restore`` show it.
- :mod:`transfer`: ``download``, streamed to a file (whole or not at all) or stdout.
- :mod:`progress`: progress bars on stderr (only on a terminal).
- :mod:`output`: tables for people, JSON for scripts.
- :mod:`exitcodes`: every error as one line on stderr and an exit code of its own.
- :mod:`cli`: the commands.

Rules:
- It speaks only the public wire, exactly as a PHP client would: it imports nothing of the
  portal or the backup servers (nothing of ours but ``config`` and ``clihelp``), so what it
  can do, any client can.
- The session cookie is a password: the session file is written whole (a temporary file
  renamed over it), readable by its owner only, and never printed.
- Results go to stdout, everything else (progress, warnings, errors) to stderr.
"""

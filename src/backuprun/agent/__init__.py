"""The agent: runs on a customer's server, and serves that server's files to the backup
servers it trusts (and writes restored files back), under one root folder and nothing
outside it.

Modules:
- :mod:`datadir`: where the agent keeps its state (``/var/lib/backuprun-agent`` as root,
  ``~/.local/share/backuprun-agent`` otherwise) and its own identity (``identity/``).
- :mod:`trust`: the trust store (``trusted/``), the backup servers' certificates it accepts.
- :mod:`server`: the HTTPS app and its runner (``backuprun agent run``).
- :mod:`paths`: the confinement rule: a path of a recovery point maps to a real path under
  the root, and no ``..``, absolute path or symbolic link leads out of it.
- :mod:`cli`: the ``backuprun agent`` commands.

Rules:
- Imports only :mod:`backuprun.transport` and, for backups, the chunking, hashing and
  compression of :mod:`backuprun.disksafe`; never the backup server or the portal.
- Nothing is served to a peer that did not present, in the TLS handshake, exactly the
  certificate of a trusted backup server: the handshake itself refuses every other peer.
- It runs as root or as an ordinary user: nothing at start needs root.
- Files in the data folder appear whole or not at all (:mod:`backuprun.transport.files`).
"""

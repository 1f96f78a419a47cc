"""BackupRun: a hosted server-backup service.

Packages, in the direction imports flow (see ``docs/`` and the shared ARCHITECTURE.md):
``storage`` ← ``disksafe`` ← backup server ← ``portal`` (API, dashboard) and ``cli``.
"""

__version__ = "0.1.0"

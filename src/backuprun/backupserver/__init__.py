"""The backup server of a location: volumes, disk safes, policies, and the provisioning walk.

Rules:
- The portal reaches a backup server only through :class:`client.BackupServerClient`,
  whether the server runs in the portal's process (:class:`client.LocalBackupServer`) or as
  its own ``backuprun backup-server`` process (:mod:`remote`, over the internal API with
  mutual TLS and pinned keys). Both are tested by the same service tests.
- The backup server knows nothing of accounts or sessions: a service is its id and its spec.
- Provisioning is a walk of idempotent steps (``create_status`` 0 -> 1 volume -> 2 user ->
  3 agent record -> 4 disk safe -> 5 policy -> 10 ready), run as a keyed task
  (:mod:`backuprun.tasks`): a walk killed at any point resumes where it stopped and
  completes once, without duplicates.
- A change (``activateAgent``) sets ``create_status`` -1 and re-walks; a termination sets
  -4 at once, stops all work, and deletes the disk safe after the grace period.
- Disk-safe passwords are kept sealed with the server's secret key, never in clear.
"""

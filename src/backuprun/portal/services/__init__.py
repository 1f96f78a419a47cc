"""Services: a customer's servers, each backed up in one location by its backup server.

Rules (enforced in :mod:`.manager`, the one place every door goes through):
- A service belongs to one main account. Its owner may do everything with it; a subuser
  may see, back up and restore the services assigned to it, and nothing more (no add,
  change, terminate or assign); nobody reaches another account's service, and the answer
  for such an id is the same as for an id that does not exist (:mod:`.access`).
- A service an operator made ``readonly``, ``restricted`` or put under ``maintenance``,
  or one that is terminated, refuses every change with an error that says which.
- Special locations are offered only to accounts allowed them (``special_locations``).
- The portal keeps what the account decided (name, host, port, location, encryption,
  activation hint, assignment); the location's backup server keeps where provisioning
  stands and does the work (``backuprun.backupserver``), reached through
  :class:`~backuprun.backupserver.client.BackupServerClient`.
- Field rules (host, port, name, type, activation hints) are in :mod:`.rules`.
"""

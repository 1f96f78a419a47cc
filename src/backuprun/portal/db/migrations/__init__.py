"""Alembic migrations of the portal database, run by ``backuprun.portal.db.migrate``.

Add a revision with a new file in ``versions/`` (``NNNN_what.py``, ``down_revision`` = the
previous one); never edit a published revision.
"""

"""Pinned TLS between our own programs: identities (a key and a self-signed certificate),
fingerprints, and SSL contexts that trust exactly the pinned peer certificates.

Imports nothing of ours but ``config``.
"""

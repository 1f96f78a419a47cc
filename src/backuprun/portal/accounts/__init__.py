"""Accounts: main accounts, their subusers (contacts), sessions and password recovery.

Rules (enforced in :mod:`.service`, the one place every door goes through):
- An e-mail address identifies one account, main or subuser, compared case-insensitively.
- Passwords are stored only as Argon2id hashes; a new password has a minimum length.
- A main account manages its own subusers and nobody else's: a contact id that is not one
  of the caller's subusers is "not found", whatever the id. Subusers (role 4; the deprecated
  roles 2 and 1 are accepted) log in with their own address and password, manage their own
  data, and manage no subusers.
- A login, and a password reset, start a new session (see :mod:`.sessions`); a password
  change ends the account's other sessions.
- Failed logins are throttled per account and per address (see :mod:`.throttle`);
  registrations and recovery requests are limited per address and per e-mail (:mod:`.limits`).
- Password recovery answers the same whether the address has an account; codes are random,
  stored as digests, single-use, and expire (``recovery_code_lifetime``, 1 hour).
"""

"""The errors a disk safe raises; the CLI maps each to a clear message and exit code."""

from __future__ import annotations


class DiskSafeError(Exception):
    """Base of every disk-safe error."""


class SafeNotFound(DiskSafeError):
    """No disk safe at that location (no key or config object)."""


class SafeExists(DiskSafeError):
    """``init`` found a disk safe already there."""


class WrongPassword(DiskSafeError):
    """No key object of the safe opens with the password given."""


class SafeLocked(DiskSafeError):
    """Another process holds a conflicting lock on the safe."""


class DamagedData(DiskSafeError):
    """A stored object failed authentication or did not parse."""


class UnsupportedFormat(DiskSafeError):
    """A stored object has a magic or version this code does not read."""


class PointNotFound(DiskSafeError):
    """No recovery point matches the id (or id prefix) given."""


class PathNotFound(DiskSafeError):
    """A path asked for is not in the recovery point."""


class InvalidPath(DiskSafeError):
    """A path asked for cannot name anything in a recovery point (a ``..`` component, a
    NUL byte), or no path was given."""

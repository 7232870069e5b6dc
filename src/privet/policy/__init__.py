"""Access governance. Today: purpose limitation enforced by the broker on every read."""

from privet.policy._broker import Release, export, read

__all__ = ["Release", "export", "read"]

"""The errors that stop `apitwin drift` before it has compared anything."""


class DriftUsageError(Exception):
    """Drift cannot run as asked (unknown twin, no credential, no operation to send...): exit code 2."""


class DriftTargetError(Exception):
    """The target cannot be measured: unreachable, refusing the credential, not at this base path (exit code 1)."""

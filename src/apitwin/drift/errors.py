"""The one error of `apitwin drift` that is the caller's to fix."""


class DriftUsageError(Exception):
    """Drift cannot run as asked (unknown twin, no credential, target unreachable...): exit code 2."""

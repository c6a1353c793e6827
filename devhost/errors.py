"""Errors the runner raises with a message that names the function, binding or setting at fault."""


class HostError(RuntimeError):
    """The host cannot start or run as configured (bad host.json, bad settings, port in use)."""


class BindingError(HostError):
    """A binding cannot be resolved: missing %Setting%, unknown {expression}, bad path or schedule."""

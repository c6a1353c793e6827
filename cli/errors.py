"""The CLI's one error: a sentence for the user, printed on one line with exit code 1."""


class CliError(Exception):
    """Something the user can fix (a bad argument, the app not running); the message says what."""

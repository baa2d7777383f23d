"""User-facing errors: the CLI prints them as one line, without a traceback."""


class VidsslError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class ChangedRun(VidsslError):
    """--resume (or compare) found a run whose checkpoint was made with other settings than asked now."""

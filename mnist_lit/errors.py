"""The one exception type that carries a user's mistake to the command line as a plain message."""


class UserError(Exception):
    """Bad input from the user: a missing file, a broken checkpoint, an impossible setting.

    The CLI prints its message on one line and exits with status 2, without a traceback.
    """

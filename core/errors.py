"""Known errors: problems of the environment (a bad file, a missing model) that a user can act on.

Each room raises its own exception types; the command line and the GUI show any ``KnownError`` as a
sentence, while everything else is a bug and surfaces with its traceback.
"""

from __future__ import annotations


class KnownError(Exception):
    """An error with a message meant for the user."""

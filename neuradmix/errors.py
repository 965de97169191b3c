"""One exception type for every problem a user can fix.

The CLI turns an :class:`InputError` into a single line on stderr and a non-zero exit, so every
message should name the file at fault and say what to do about it.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input or configuration that the user can fix; the message says how."""

"""Argument types shared by the commands: values out of range are argparse errors (exit 2, one
line naming the argument), never a database error later."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, but got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, but got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse

"""`--source` on the command line: a source's name or its id, in every command.

Commands once took one or the other (`enqueue_samples --source NEU-DET` failed as "invalid int
value", `caption_samples --source 5` as "unknown source(s): 5"). A name is tried first, so a source
named "5" stays reachable by its name; digits that name no source are read as an id.
"""

import argparse

from catalog.models import Source


def source_id(value: str) -> int:
    """argparse type for commands that work on source ids."""
    by_name = Source.objects.filter(name=value).values_list("pk", flat=True).first()
    if by_name is not None:
        return by_name
    if value.isdigit():
        return int(value)  # the command says when no source has it
    raise argparse.ArgumentTypeError(f"no source named {value!r} (give a source's name or id)")


def source_name(value: str) -> str:
    """argparse type for commands that work on source names."""
    if value.isdigit() and not Source.objects.filter(name=value).exists():
        by_id = Source.objects.filter(pk=int(value)).values_list("name", flat=True).first()
        if by_id is not None:
            return by_id
    return value  # the command says when no source has it

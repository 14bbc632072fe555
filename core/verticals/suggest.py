"""Suggestions ("did you mean ...?") for names a person types: customers, plans, models, plugins, units.

Every refusal of an unknown name goes through ``unknown``, so the CLI and the admin API's 400s offer
the same suggestions (difflib's closest matches) and the same list of what is known.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Beyond this many names a full list drowns the message; the suggestions and the listing command do.
_LIST_AT_MOST = 12


def close_matches(name: str, known: Iterable[str]) -> list[str]:
    """Up to three of ``known`` closest to ``name`` (difflib ratio 0.6 or more), the closest first; a known
    name that starts with what was typed counts too (``nlp/ch`` suggests ``nlp/chat``)."""
    names = sorted(set(known))
    found = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if name:
        found += [n for n in names if n.startswith(name) and n not in found]
    return found[:3]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'nlp/chat'?"`` (or ``'a' or 'b'``) for the closest of ``known``; "" when none is
    close."""
    found = close_matches(name, known)
    if not found:
        return ""
    return "did you mean " + " or ".join(repr(n) for n in found) + "?"


def unknown(kind: str, name: str, known: Iterable[str], fix: str) -> str:
    """The message for an unknown ``kind`` (customer, model, ...) ``name``: the closest ``known`` names,
    then what is known (all of it when short, else the count) and ``fix`` (what to run or give instead).

    ``unknown("model", "nlp/chta", ["nlp/chat", "nlp/embed"], "see `verticals models list`")`` is
    ``"unknown model 'nlp/chta': did you mean 'nlp/chat'? (known: nlp/chat, nlp/embed; see `verticals
    models list`)"``.
    """
    names = sorted(set(known))
    if not names:
        listing = f"there is no {kind} yet"
    elif len(names) <= _LIST_AT_MOST:
        listing = "known: " + ", ".join(names)
    else:
        listing = f"{len(names)} known"
    hint = did_you_mean(name, names)
    return f"unknown {kind} {name!r}" + (f": {hint} " if hint else " ") + f"({listing}; {fix})"


def unknown_customer(name: str, known: Iterable[str]) -> str:
    """``unknown`` for a customer, with the command that creates one (the ledger and its remote client both
    say it)."""
    return unknown("customer", name, known, f"create it with `verticals customers create {name} --plan PLAN`")

"""Name rules shared by the registered contracts."""

import re

_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$")
_PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_./-]*$")


def check_model_name(name: str) -> str:
    """``name`` unchanged if it is ``<plugin>/<model>``, each part lower-case letters, digits, ``-``, ``_`` or
    ``.`` starting with a letter or digit (``nlp/chat``); ValueError with an example otherwise.
    """
    if not _MODEL_NAME.match(name):
        raise ValueError(
            f"model name {name!r} must look like '<plugin>/<model>' in lower case "
            "(letters, digits, '-', '_', '.'), for example 'nlp/chat'"
        )
    return name


def check_plain_name(name: str, what: str) -> str:
    """``name`` unchanged if it is lower-case letters, digits, ``-``, ``_``, ``.`` or ``/``, starting with a
    letter or digit; ValueError naming ``what`` (adapter, evaluation, ...) otherwise.
    """
    if not _PLAIN_NAME.match(name):
        raise ValueError(
            f"{what} name {name!r} must be lower case letters, digits, '-', '_', '.' or '/', "
            "for example 'nlp/text-table'"
        )
    return name

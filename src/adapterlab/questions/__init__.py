"""The exercises of each notebook: `adapterlab.questions.nb01` holds notebook 01's, and so on.

A notebook imports its own module (`from adapterlab.questions.nb01 import q1, q2, q3`); the tests
import them all through `all_questions()` and check every reference answer and typical slip.
"""

from __future__ import annotations

import importlib
import pkgutil

from adapterlab.exercises import Question


def all_questions() -> list[Question]:
    """Returns every question of every notebook module in this package."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [v for v in vars(module).values() if isinstance(v, Question)]
    return found

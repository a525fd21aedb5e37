"""`raises`: show an error a learner will meet, and assert that it really is that error.

A notebook cell that demonstrates a failure must not stop the notebook, and must not pass if the
library stops failing that way. `with raises(ValueError) as caught:` does both: it fails loudly if
no exception or another type comes out, and keeps the exception for the next line to show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Caught:
    """The exception a `raises` block caught."""

    value: BaseException | None = None

    @property
    def type_name(self) -> str:
        return type(self.value).__name__

    @property
    def message(self) -> str:
        """The exception's message, first line only, with machine paths shortened to their last part."""
        text = str(self.value).strip().splitlines()[0] if str(self.value).strip() else ""
        return re.sub(r"(?:/[^\s/'\"]+)+/([^\s/'\"]+)", r"…/\1", text)

    def __repr__(self) -> str:
        return f"{self.type_name}: {self.message}"


class raises:  # noqa: N801 - reads like pytest.raises, which learners know
    """Context manager: the block must raise `expected` (or a subclass); anything else fails."""

    def __init__(self, expected: type[BaseException] | tuple[type[BaseException], ...]):
        self.expected = expected
        self.caught = Caught()

    def __enter__(self) -> Caught:
        return self.caught

    def __exit__(self, exc_type, exc, tb) -> bool:
        names = getattr(self.expected, "__name__", None) or " or ".join(e.__name__ for e in self.expected)
        if exc is None:
            raise AssertionError(f"expected {names}, but nothing was raised")
        if not isinstance(exc, self.expected):
            return False  # let the unexpected error through, with its traceback
        self.caught.value = exc
        return True

"""The one error the generator raises for bad input, naming what is at fault."""

from __future__ import annotations

from typing import Any


class GenerationError(ValueError):
    """Released metadata (or a spec) cannot be turned into an artificial table.

    The message names the dataset, the field and the value at fault, so that whoever reads a
    failed run knows which metadata row to look at without opening the code.
    """

    def __init__(self, dataset: str, field: str | None, value: Any, reason: str) -> None:
        self.dataset = dataset
        self.field = field
        self.value = value
        self.reason = reason
        where = f"{dataset}.{field}" if field else dataset
        super().__init__(f"{where}: {reason} (value {value!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised inside Spark executors too: make it survive pickling with its attributes.
        return (type(self), (self.dataset, self.field, self.value, self.reason))

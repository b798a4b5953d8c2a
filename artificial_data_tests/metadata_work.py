"""Count how often a step validates and hashes each metadata partition (issue 16 item 4).

The real ``metadata_contract.validate`` and ``content_hash`` still run: each is wrapped by a
function that records who it ran for and then calls it. A call made by ``read_metadata`` or
``write_metadata`` is counted against the partition they were handed (store, dataset, year);
any other caller (the scraper building its rows) against its own function name.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

from artificial_data.common import metadata_contract as contract

Key = tuple[str, ...]


@dataclass
class MetadataWork:
    validated: Counter[Key] = field(default_factory=Counter)
    hashed: Counter[Key] = field(default_factory=Counter)

    def install(self, monkeypatch) -> MetadataWork:
        for name, counts in (("validate", self.validated), ("content_hash", self.hashed)):
            monkeypatch.setattr(contract, name, self._counting(getattr(contract, name), counts))
        return self

    @staticmethod
    def _counting(real, counts: Counter[Key]):
        def counted(*args, **kwargs):
            caller = sys._getframe(1)
            local = caller.f_locals
            if caller.f_code.co_name in ("read_metadata", "write_metadata"):
                counts[(local["store"], local["dataset"], local["financial_year"])] += 1
            else:
                counts[(caller.f_code.co_name,)] += 1
            return real(*args, **kwargs)

        return counted

    def reset(self) -> None:
        self.validated.clear()
        self.hashed.clear()

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{"validated": {"store/dataset/year": n}, "hashed": {...}}``, then reset."""
        taken = {
            kind: {"/".join(k): n for k, n in sorted(counts.items())}
            for kind, counts in (("validated", self.validated), ("hashed", self.hashed))
        }
        self.reset()
        return taken

"""The Enterpret labels (taxonomy) that record ``predictions`` point at, deterministic per seed.

The labels API is documented only for a ``REASON`` label (``type: "REASON"`` with
``metadata.reason {sentiment, representativeSentences, type}``). The other prediction kinds of a
record (``sentiment: {}`` and the keyword kind ``aspect: {}``) need labels too; the sandbox guesses
``type`` values ``SENTIMENT`` and ``KEYWORD`` for them, with an empty ``metadata``, which is what a
client must tolerate until a real account shows otherwise (PROTOCOLS §6, N-7).
"""

import random
import uuid
from dataclasses import dataclass
from typing import Any

from export_pipelines.sandbox.enterpret.corpus import KEYWORDS, REASON_THEMES, SENTIMENT_LABELS

PREDICTION_KINDS = ("sentiment", "reason", "aspect")
_LABEL_TYPES = {"sentiment": "SENTIMENT", "reason": "REASON", "aspect": "KEYWORD"}


@dataclass(frozen=True)
class LabelSet:
    """All labels of one sandbox account, by id, and the ids usable for each prediction kind."""

    by_id: dict[str, dict[str, Any]]
    ids_by_kind: dict[str, tuple[str, ...]]

    def get(self, label_id: str) -> dict[str, Any] | None:
        return self.by_id.get(label_id)


def build_labels(seed: int, created_before: int) -> LabelSet:
    """The label set of ``seed``; every label was created within the year before the dataset."""
    rng = random.Random(f"enterpret-labels:{seed}")
    by_id: dict[str, dict[str, Any]] = {}
    ids_by_kind: dict[str, list[str]] = {kind: [] for kind in PREDICTION_KINDS}

    def add(kind: str, display_name: str, description: str, metadata: dict[str, Any]) -> None:
        label_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        by_id[label_id] = {
            "id": label_id,
            "displayName": display_name,
            "type": _LABEL_TYPES[kind],
            "description": description,
            "createdAt": str(created_before - rng.randrange(1, 365 * 86400)),
            # A few hidden labels: a client must not assume every referenced label is visible.
            "isVisible": rng.random() > 0.1,
            "metadata": metadata,
        }
        ids_by_kind[kind].append(label_id)

    for name in SENTIMENT_LABELS:
        add("sentiment", name, f"Feedback whose overall tone is {name.lower()}.", {})
    for name, sentiment in REASON_THEMES:
        lowered = name.lower()
        add(
            "reason",
            name,
            f"Customers mention {lowered} when describing their experience.",
            {
                "reason": {
                    "sentiment": sentiment,
                    "representativeSentences": [lowered, f"problem: {lowered}"],
                    "type": rng.choice(("MANUALLY_DEFINED", "AUTO_GENERATED")),
                }
            },
        )
    for keyword in KEYWORDS:
        add("aspect", keyword, f'Feedback that mentions "{keyword}".', {})
    return LabelSet(by_id, {kind: tuple(ids) for kind, ids in ids_by_kind.items()})

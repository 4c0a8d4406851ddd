"""The deterministic synthetic feedback universe of the Enterpret sandbox, and the test oracle.

Record ``i`` (``0 ≤ i < record_count``) is reported by its source at
``start + floor(i * span / record_count)`` seconds, so records are in time order and the records of a
window ``[a, b)`` are one contiguous index range found by arithmetic: windowing ten million records
costs nothing. Every other field comes from a PRNG seeded by ``(seed, i)``, so any record can be
built alone, in any order, and an export streams record by record without holding the window.

Records follow the vendor's FeedbackRecord (seed 004): the content block follows the record type,
optional fields are sometimes absent entirely (never null), ``sourceTimestamp`` and ``ingestedAt``
are epoch seconds written as decimal strings as in the vendor's example, and metadata values are
typed arrays (``{"s": [...]}`` or ``{"n": [...]}``, ints and floats).

``FeedbackDataset.records(start, end, filter_query)`` yields exactly the records the sandbox writes
into an export's files, in file order: end-to-end tests use it as the truth.
"""

import bisect
import hashlib
import itertools
import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from export_pipelines.decisions.enterpret import CONVERSATION_ACTORS
from export_pipelines.sandbox.enterpret import corpus
from export_pipelines.sandbox.enterpret.config import EnterpretSandboxConfig
from export_pipelines.sandbox.enterpret.filters import compile_filter_query
from export_pipelines.sandbox.enterpret.labels import LabelSet, build_labels

_TYPES = tuple(corpus.TYPE_WEIGHTS)
_TYPE_WEIGHTS = tuple(corpus.TYPE_WEIGHTS.values())
_LANGUAGES = corpus.LANGUAGES
_LANGUAGE_WEIGHTS = tuple(weight for *_, weight in _LANGUAGES)
_MAX_INGEST_DELAY = 3 * 86400
_INDEX_BITS = 24
_MAX_RECORDS = 1 << _INDEX_BITS

T = TypeVar("T")


def _epoch(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _copy_options(extra: dict[str, Any]) -> dict[str, Any]:
    """The translated survey answer gets its own list, so mutating one never changes the other."""
    return {key: list(value) for key, value in extra.items()}


class FeedbackDataset:
    """``record_count`` feedback records spread evenly over ``[start, end)``, fixed by ``seed``."""

    def __init__(
        self, seed: int, record_count: int, start: datetime | int, end: datetime | int
    ) -> None:
        self.seed = seed
        self.record_count = record_count
        self.start_ts = _epoch(start)
        self.end_ts = _epoch(end)
        if not 1 <= record_count <= _MAX_RECORDS:
            raise ValueError(f"record_count must be between 1 and {_MAX_RECORDS}")
        if self.end_ts <= self.start_ts:
            raise ValueError("end must be after start")
        self._span = self.end_ts - self.start_ts
        digest = hashlib.blake2b(f"enterpret:{seed}".encode(), digest_size=8).digest()
        # Record i's PRNG seed: the seed's hash in the high bits, i in the low ones.
        self._seed_base = int.from_bytes(digest, "big") << _INDEX_BITS
        org_rng = random.Random(f"enterpret-org:{seed}")
        self.org_id = str(uuid.UUID(int=org_rng.getrandbits(128), version=4))

    @classmethod
    def from_config(cls, config: EnterpretSandboxConfig) -> "FeedbackDataset":
        return cls(config.seed, config.record_count, config.dataset_start, config.dataset_end)

    def __len__(self) -> int:
        return self.record_count

    @cached_property
    def labels(self) -> LabelSet:
        return build_labels(self.seed, created_before=self.start_ts)

    def timestamp(self, index: int) -> int:
        """``sourceTimestamp`` of record ``index``."""
        return self.start_ts + index * self._span // self.record_count

    def _first_index_at_or_after(self, ts: int) -> int:
        offset = ts - self.start_ts
        if offset <= 0:
            return 0
        # Smallest i with floor(i * span / n) ≥ offset, i.e. i ≥ offset * n / span.
        return min(self.record_count, -(-offset * self.record_count // self._span))

    def window_indices(self, start_ts: datetime | int, end_ts: datetime | int) -> range:
        """Indices of the records with ``start_ts ≤ sourceTimestamp < end_ts``."""
        first = self._first_index_at_or_after(_epoch(start_ts))
        stop = self._first_index_at_or_after(_epoch(end_ts))
        return range(first, max(first, stop))

    def records(
        self,
        start_ts: datetime | int,
        end_ts: datetime | int,
        filter_query: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The records of ``[start_ts, end_ts)`` passing ``filter_query``, in time (file) order."""
        predicate = None if filter_query is None else compile_filter_query(filter_query)
        for index in self.window_indices(start_ts, end_ts):
            record = self.record(index)
            if predicate is None or predicate(record):
                yield record

    def record(self, index: int) -> dict[str, Any]:
        """Record ``index``, built from its own PRNG alone."""
        if not 0 <= index < self.record_count:
            raise IndexError(index)
        return _RecordBuilder(self, index).build()


class _Draws:
    """Fast draws from one PRNG: ``random.Random.choice``/``sample`` cost several times more and
    record generation is the sandbox's hot loop (ten million records per export at most)."""

    __slots__ = ("bits", "unit")

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.unit = rng.random
        self.bits = rng.getrandbits

    def chance(self, probability: float) -> bool:
        return self.unit() < probability

    def below(self, n: int) -> int:
        return int(self.unit() * n)

    def between(self, low: int, high: int) -> int:
        """An int in ``[low, high]``."""
        return low + int(self.unit() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.unit() * len(items))]

    def weighted(self, items: Sequence[T], cumulative: Sequence[float]) -> T:
        return items[bisect.bisect_right(cumulative, self.unit() * cumulative[-1])]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """``k`` distinct items in random order (a partial Fisher-Yates shuffle)."""
        pool = list(items)
        n = len(pool)
        for j in range(k):
            m = j + int(self.unit() * (n - j))
            pool[j], pool[m] = pool[m], pool[j]
        return pool[:k]

    def uuid(self, version: int) -> str:
        return str(uuid.UUID(int=self.bits(128), version=version))


_TYPE_CUMULATIVE = tuple(itertools.accumulate(_TYPE_WEIGHTS))
_LANGUAGE_CUMULATIVE = tuple(itertools.accumulate(_LANGUAGE_WEIGHTS))


class _RecordBuilder:
    """Builds one record; the order of the draws is part of the dataset's definition."""

    def __init__(self, dataset: FeedbackDataset, index: int) -> None:
        self.dataset = dataset
        self.draw = _Draws(dataset._seed_base | index)
        self.timestamp = dataset.timestamp(index)

    def build(self) -> dict[str, Any]:
        draw = self.draw
        record_type = draw.weighted(_TYPES, _TYPE_CUMULATIVE)
        source = draw.pick(corpus.SOURCES_BY_TYPE[record_type])
        language = draw.weighted(_LANGUAGES, _LANGUAGE_CUMULATIVE)
        record: dict[str, Any] = {
            "id": draw.uuid(5),
            "source": source,
            "orgID": self.dataset.org_id,
            "type": record_type,
            "metadata": {"keyValues": self._metadata(record_type, source, language)},
            "sourceTimestamp": str(self.timestamp),
            "ingestedAt": str(self.timestamp + draw.between(30, _MAX_INGEST_DELAY)),
            "languages": self._languages(language),
            "originRecordID": self._origin_record_id(source),
        }
        predictions = self._predictions()
        if predictions:
            record["predictions"] = predictions
        if draw.chance(0.6):
            record["summary"] = self._summary()
        iso6393 = language[0]
        if record_type == "RecordTypeReview":
            record["text"] = self._text(iso6393)
        elif record_type == "RecordTypeSurvey":
            record["survey"] = self._survey(iso6393)
        else:
            record["conversation"] = self._conversation(iso6393)
        return record

    def _languages(self, language: tuple[str, str, str, int]) -> list[dict[str, str]]:
        draw = self.draw
        languages = [
            {
                "iso6393": language[0],
                "iso6391": language[1],
                "source": "detected" if draw.chance(0.9) else "metadata",
            }
        ]
        # Some non-English feedback quotes English too: two languages detected.
        if language[0] != "eng" and draw.chance(0.15):
            languages.append({"iso6393": "eng", "iso6391": "en", "source": "detected"})
        return languages

    def _origin_record_id(self, source: str) -> str:
        draw = self.draw
        if source in ("ZendeskSupport", "Intercom"):
            return str(draw.between(10_000, 99_999_999))
        if source == "Playstore":
            return f"gp:AOqpTO{draw.bits(160):040x}"
        return f"{source.lower()}-{draw.bits(64):016x}"

    def _metadata(
        self, record_type: str, source: str, language: tuple[str, str, str, int]
    ) -> dict[str, dict[str, list[Any]]]:
        draw = self.draw
        values: dict[str, dict[str, list[Any]]] = {}
        if draw.chance(0.8):
            values["Country"] = {"s": [draw.pick(corpus.COUNTRIES)]}
        if draw.chance(0.5):
            values["Tags"] = {"s": draw.sample(corpus.TAGS, draw.between(1, 3))}
        if draw.chance(0.7):
            # A float score with up to three decimals, sometimes a whole number as a float.
            values["Score"] = {"n": [round(draw.unit() * 10, draw.pick((0, 1, 3)))]}
        if record_type == "RecordTypeReview":
            values["Rating"] = {"n": [draw.between(1, 5)]}
            values["Language code"] = {"s": [language[1]]}
            values["Language name"] = {"s": [language[2]]}
            if source in ("Playstore", "AppStore"):
                values["App id"] = {"s": [draw.pick(corpus.APP_IDS)]}
                values["Id"] = {"s": [draw.uuid(4)]}
                values["Reviewer"] = {"s": [draw.pick(corpus.REVIEWERS)]}
                values["Timestamp"] = {"n": [self.timestamp + draw.below(60)]}
                values["Useful"] = {"n": [draw.pick((0, 0, 0, 1, 2, 7))]}
                if draw.chance(0.85):
                    values["Version"] = {"s": [draw.pick(corpus.VERSIONS)]}
        elif record_type == "RecordTypeConversation":
            values["Ticket id"] = {"n": [draw.between(1, 9_999_999)]}
            values["Priority"] = {"s": [draw.pick(corpus.PRIORITIES)]}
            if draw.chance(0.6):
                values["CSAT"] = {"n": [draw.pick((1, 2, 3, 4, 5, 4.5, 3.5))]}
        elif record_type == "RecordTypeSurvey":
            values["NPS"] = {"n": [draw.between(0, 10)]}
            values["Plan"] = {"s": [draw.pick(corpus.PLANS)]}
        else:
            values["Upvotes"] = {"n": [draw.below(500)]}
            values["Thread URL"] = {"s": [f"https://forum.example.com/t/{draw.below(10**6)}"]}
        return values

    def _predictions(self) -> list[dict[str, Any]]:
        draw = self.draw
        if draw.chance(0.25):
            return []
        ids = self.dataset.labels.ids_by_kind
        predictions: list[dict[str, Any]] = []
        if draw.chance(0.85):
            predictions.append({"labelID": draw.pick(ids["sentiment"]), "sentiment": {}})
        for label_id in draw.sample(ids["reason"], draw.pick((0, 1, 1, 2, 3))):
            units = [
                # Float32-looking confidences, as the vendor's example (1.0000001, 0.9706277).
                {"confidence": round(0.5 + draw.unit() * 0.5000001, 7)}
                for _ in range(draw.pick((1, 1, 2)))
            ]
            predictions.append({"labelID": label_id, "reason": {"units": units}})
        for label_id in draw.sample(ids["aspect"], draw.pick((0, 0, 1, 2))):
            predictions.append({"labelID": label_id, "aspect": {}})
        return draw.sample(predictions, len(predictions))

    def _summary(self) -> list[str]:
        draw = self.draw
        theme, sentiment = draw.pick(corpus.REASON_THEMES)
        kind = {"NEGATIVE": "issue", "POSITIVE": "praise"}.get(sentiment, "request")
        summary = [f"The user writes about {theme.lower()}."]
        if draw.chance(0.7):
            summary.append(f"{theme.lower()}::{kind}")
        return summary

    def _phrases(self, iso6393: str) -> tuple[str, str]:
        """One or more phrases of the language, joined by a space or a newline, and the English."""
        draw = self.draw
        pairs = draw.sample(corpus.PHRASES[iso6393], draw.pick((1, 1, 2, 3)))
        separator = draw.pick((" ", " ", "\n"))
        return (
            separator.join(original for original, _ in pairs),
            separator.join(english for _, english in pairs),
        )

    def _text(self, iso6393: str) -> dict[str, str]:
        text, english = self._phrases(iso6393)
        content = {"text": text}
        if iso6393 != "eng":
            content["textEn"] = english
        return content

    def _conversation(self, iso6393: str) -> dict[str, Any]:
        draw = self.draw
        original: list[dict[str, str]] = []
        translated: list[dict[str, str]] = []
        actors = [CONVERSATION_ACTORS[0]]
        for _ in range(draw.below(5)):
            actors.append(draw.pick(CONVERSATION_ACTORS))
        for actor in actors:
            text, english = self._phrases(iso6393)
            message = {"text": text, "actor": actor}
            message_en = {"text": english, "actor": actor}
            if actor != "bot" and draw.chance(0.7):
                actor_id = f"{actor}-{draw.between(1, 4999)}"
                message["actorID"] = message_en["actorID"] = actor_id
            original.append(message)
            translated.append(message_en)
        content: dict[str, Any] = {"conversation": {"msgs": original}}
        if iso6393 != "eng":
            content["conversationEn"] = {"msgs": translated}
        return content

    def _survey(self, iso6393: str) -> dict[str, Any]:
        draw = self.draw
        original: list[dict[str, Any]] = []
        translated: list[dict[str, Any]] = []
        questions = corpus.SURVEY_QUESTIONS
        for question in draw.sample(questions, draw.between(1, len(questions))):
            extra: dict[str, Any] = {}
            if question == questions[0]:
                answer = english = str(draw.between(0, 10))
            elif question == questions[2]:
                options = draw.sample(corpus.SURVEY_FEATURES, draw.between(1, 3))
                answer = english = ", ".join(options)
                extra["selectedOptions"] = options
            else:
                answer, english = self._phrases(iso6393)
            original.append({"question": question, "answer": answer, **extra})
            translated.append({"question": question, "answer": english, **_copy_options(extra)})
        content: dict[str, Any] = {"surveyResponse": {"responses": original}}
        if iso6393 != "eng":
            content["surveyResponseEn"] = {"responses": translated}
        return content

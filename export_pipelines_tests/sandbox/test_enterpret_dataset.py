"""The synthetic feedback universe: determinism, the record shape, window arithmetic, streaming."""

import json
import random
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from export_pipelines.sandbox import EnterpretSandboxConfig, FeedbackDataset
from export_pipelines.sandbox.enterpret.export_files import write_export

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
RECORD_TYPES = {
    "RecordTypeReview": "text",
    "RecordTypeConversation": "conversation",
    "RecordTypeForumConversationThread": "conversation",
    "RecordTypeSurvey": "survey",
}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = FeedbackDataset(3, 50_000, START, END)
    again = FeedbackDataset(3, 50_000, START, END)
    other = FeedbackDataset(4, 50_000, START, END)
    indices = [0, 1, 2, 999, 25_000, 49_999]
    assert [first.record(i) for i in indices] == [again.record(i) for i in indices]
    assert first.labels.by_id == again.labels.by_id
    assert all(first.record(i)["id"] != other.record(i)["id"] for i in indices)
    assert first.labels.by_id.keys().isdisjoint(other.labels.by_id.keys())
    # A record depends on its index alone, not on what was generated before it.
    assert list(first.records(first.timestamp(999), first.timestamp(1002))) == [
        again.record(i) for i in (999, 1000, 1001)
    ]
    config = EnterpretSandboxConfig(seed=3, record_count=50_000)
    assert FeedbackDataset.from_config(config).record(25_000) == first.record(25_000)


def test_window_arithmetic_on_ten_million_records_is_instant_and_exact() -> None:
    dataset = FeedbackDataset(1, 10_000_000, START, END)
    rng = random.Random(0)
    bounds = [
        (rng.randrange(dataset.start_ts - 10**6, dataset.end_ts + 10**6)) for _ in range(2000)
    ]
    started = time.perf_counter()
    windows = [dataset.window_indices(a, a + rng.randrange(0, 10**6)) for a in bounds]
    assert time.perf_counter() - started < 0.5
    for a, window in zip(bounds, windows, strict=True):
        if window.start > 0:
            assert dataset.timestamp(window.start - 1) < a
        if window.start < dataset.record_count:
            assert dataset.timestamp(window.start) >= a
    assert dataset.window_indices(START, END) == range(10_000_000)
    assert dataset.timestamp(9_999_999) < dataset.end_ts
    assert len(dataset.window_indices(END, datetime(2030, 1, 1, tzinfo=UTC))) == 0


def test_records_look_like_the_vendors_feedback_records() -> None:
    dataset = FeedbackDataset(11, 100_000, START, END)
    records = [dataset.record(i) for i in range(0, 100_000, 25)]
    types = Counter(record["type"] for record in records)
    assert set(types) == set(RECORD_TYPES)
    languages = Counter(record["languages"][0]["iso6393"] for record in records)
    assert {"eng", "deu", "fra", "spa", "jpn", "bul", "ukr", "vie"} <= set(languages)
    assert len({record["orgID"] for record in records}) == 1
    assert len({record["id"] for record in records}) == len(records)
    optional_present: Counter[str] = Counter()
    numbers: set[type] = set()
    texts = "".join(_strings(records))
    for record in records:
        assert {
            "id",
            "source",
            "orgID",
            "type",
            "sourceTimestamp",
            "ingestedAt",
            "languages",
        } <= set(record)
        assert record["sourceTimestamp"].isdigit() and record["ingestedAt"].isdigit()
        assert int(record["ingestedAt"]) > int(record["sourceTimestamp"])
        content = RECORD_TYPES[record["type"]]
        assert content in record
        assert not {"text", "conversation", "survey"} - {content} & set(record)
        english = record["languages"][0]["iso6393"] == "eng"
        if content == "text":
            assert ("textEn" in record["text"]) is not english
        elif content == "conversation":
            messages = record["conversation"]["conversation"]["msgs"]
            assert all(m["actor"] in ("user", "agent", "bot") for m in messages)
            assert ("conversationEn" in record["conversation"]) is not english
        else:
            assert record["survey"]["surveyResponse"]["responses"]
            assert ("surveyResponseEn" in record["survey"]) is not english
        for key in ("predictions", "summary"):
            optional_present[key] += key in record
            assert record.get(key, ["absent, not null"]) is not None
        for prediction in record.get("predictions", []):
            kinds = {"sentiment", "reason", "aspect"} & set(prediction)
            assert len(kinds) == 1 and prediction["labelID"] in dataset.labels.by_id
        for typed in record["metadata"]["keyValues"].values():
            assert list(typed) in (["s"], ["n"])
            numbers.update(type(n) for n in typed.get("n", []))
    assert 0 < optional_present["predictions"] < len(records)
    assert 0 < optional_present["summary"] < len(records)
    assert numbers == {int, float}
    for tricky in ('"', "\\", "\n", "😍", "ü", "ж", "アプリ", "\u2028"):
        assert tricky in texts, tricky


def test_generation_streams_in_bounded_memory(tmp_path: Path) -> None:
    """tracemalloc slows generation ~10x: 10,000 records (about 10 MB of JSON) make the point."""
    dataset = FeedbackDataset(5, 1_000_000, START, END)
    window = dataset.window_indices(dataset.timestamp(300_000), dataset.timestamp(310_000))
    assert len(window) == 10_000
    tracemalloc.start()
    try:
        count, files = write_export(
            (dataset.record(i) for i in window), page_size=4_000, directory=tmp_path
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = sum(path.stat().st_size for path in files)
    assert count == 10_000 and len(files) == 3
    assert size > 8_000_000
    # Whole-export buffering would need several times the file size; streaming needs ~1 record.
    assert peak < size / 10, (peak, size)
    assert not list(tmp_path.glob("*.partial"))
    last = json.loads(files[-1].read_bytes())["records"]
    assert last[-1] == dataset.record(window[-1])

"""A tick's bookkeeping in one transaction: many polls recorded at once, as one poll records each."""

import pytest

from export_pipelines.ledger import Ledger
from export_pipelines_tests.ledger.test_ledger import _claim


def _running(ledger: Ledger, n: int) -> int:
    job, _ = _claim(ledger, fingerprint=f"{n:064d}", partition_key=f"2024-03-{n:02d}")
    ledger.mark_submitted(job.id, f"async-{n}")
    return job.id


def test_a_batch_of_polls_counts_each_poll_and_records_progress_changes(ledger: Ledger) -> None:
    a, b, c = (_running(ledger, n) for n in (1, 2, 3))
    ledger.record_poll(b, (1, 4))

    ledger.record_polls([(a, None), (b, (1, 4)), (c, (2, 3)), (a, None), (b, (2, 4))])

    first, second, third = ledger.get(a), ledger.get(b), ledger.get(c)
    assert (first.polls, first.progress) == (2, None)
    assert (second.polls, second.progress) == (3, (2, 4))
    assert (third.polls, third.progress) == (1, (2, 3))
    assert all(j.last_polled_at is not None for j in (first, second, third))
    details = [d for _, _, d in second.history if d and d.startswith("progress")]
    assert details == ["progress 1/4 parts", "progress 2/4 parts"]
    assert [d for _, _, d in third.history if d and d.startswith("progress")] == [
        "progress 2/3 parts"
    ]
    assert [h[1] for h in second.history] == ["submitting", "running", "running", "running"]


def test_a_batch_naming_an_unknown_job_records_nothing(ledger: Ledger) -> None:
    a = _running(ledger, 1)
    with pytest.raises(KeyError, match="no export job 999 in the ledger"):
        ledger.record_polls([(a, (1, 2)), (999, None)])
    job = ledger.get(a)
    assert (job.polls, job.progress, job.last_polled_at) == (0, None, None)


def test_lists_of_jobs_carry_their_history_and_files(ledger: Ledger) -> None:
    ids = [_running(ledger, n) for n in (1, 2)]
    listed = {j.id: j for j in ledger.in_flight("enterpret")}
    assert listed == {job_id: ledger.get(job_id) for job_id in ids}
    assert all(len(j.history) == 2 for j in listed.values())

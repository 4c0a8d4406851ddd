"""The secret scan finds a key wherever it is planted, so "found none" after the demo means it.

Planted in a file across the boundary of two read pieces, in an asset's metadata and a log line of
a real run (an ephemeral instance, searched through its API), and in a ledger job's error.
"""

from pathlib import Path

import dagster as dg
import pytest

from export_pipelines.demo.secret_scan import secret_findings
from export_pipelines.ledger import Ledger

KEY = "sk-planted-0123456789"
SECRETS = {"PLANTED_API_KEY": KEY}


def test_a_key_split_across_read_pieces_is_found(tmp_path: Path) -> None:
    blob = tmp_path / "deep" / "events.db"
    blob.parent.mkdir()
    head = b"\x00" * ((1 << 20) - 5)  # the key starts 5 bytes before the first piece ends
    blob.write_bytes(head + KEY.encode() + b"\x00" * 100)
    (tmp_path / "clean.log").write_text("nothing to see\n")
    assert secret_findings(SECRETS, roots=[tmp_path]) == [f"PLANTED_API_KEY found in {blob}"]


def test_nothing_planted_means_nothing_found(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("sk-planted-012345678 (one character short)\n")
    assert secret_findings(SECRETS, roots=[tmp_path]) == []


def test_short_keys_are_refused_rather_than_searched() -> None:
    with pytest.raises(ValueError, match="SHORT"):
        secret_findings({"SHORT": "abc"})


def test_a_key_in_run_metadata_or_logs_is_found_through_the_instance() -> None:
    @dg.asset
    def leaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        context.log.info("calling the vendor")
        return dg.MaterializeResult(metadata={"request": f"Authorization: Bearer {KEY}"})

    @dg.asset
    def careful(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows": 3})

    with dg.instance_for_test() as instance:
        assert dg.materialize([careful], instance=instance).success
        assert secret_findings(SECRETS, instance=instance) == []
        result = dg.materialize([leaky], instance=instance)
        assert result.success
        assert secret_findings(SECRETS, instance=instance) == [
            f"PLANTED_API_KEY found in an event of run {result.run_id}"
        ]


def test_a_key_in_the_ledger_is_found(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    job, _ = ledger.claim(
        vendor="enterpret",
        export="feedback",
        partition_key="all",
        partitioned=False,
        window=None,
        fingerprint="f" * 64,
        body={"pageSize": 10},
        window_fixed=False,
        run_id=None,
    )
    assert secret_findings(SECRETS, ledger=ledger) == []
    ledger.record_error(job.id, f"vendor echoed the header x-api-key: {KEY}")
    assert secret_findings(SECRETS, ledger=ledger) == [
        f"PLANTED_API_KEY found in ledger job {job.id}"
    ]

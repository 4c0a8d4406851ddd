"""``LakeResource`` on local disk and on a local S3: the same locations, the same guarantees.

A write is published only when its block succeeds; a block that fails leaves what was there; a
read hands out a local file; pyarrow reads a location through its filesystem, whichever it is.
"""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster_aws.s3 import S3Resource

from export_pipelines import settings
from export_pipelines.lake import LakeError, LakeResource, lake_from_settings
from export_pipelines_tests.lake.s3_server import ACCESS_KEY, REGION, SECRET_KEY, LocalS3


def _s3_lake(s3: LocalS3, bucket: str, scratch: Path, prefix: str = "team/lake") -> LakeResource:
    return LakeResource(
        root=str(scratch),
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3=S3Resource(
            endpoint_url=s3.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        ),
    )


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> LakeResource:
    if request.param == "local":
        return LakeResource(root=str(tmp_path / "data"))
    s3: LocalS3 = request.getfixturevalue("s3")
    return _s3_lake(s3, s3.new_bucket(), tmp_path / "scratch")


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_s3_locations_follow_the_local_layout_under_the_prefix(
    s3: LocalS3, bucket: str, tmp_path: Path
) -> None:
    lake = _s3_lake(s3, bucket, tmp_path)
    table = lake.table("enterpret", "feedback_daily", "2024-03-05")
    assert (
        table.uri
        == f"s3://{bucket}/team/lake/lake/enterpret/feedback_daily/2024-03-05/data.parquet"
    )
    assert table.path == table.uri.removeprefix("s3://") and str(table) == table.uri
    assert table.local is None and table.name == "data.parquet"
    raw = lake.raw_file("hienergy", "clicks_daily", "../up", 7, "part-00000.xlsx")
    assert (
        raw.uri
        == f"s3://{bucket}/team/lake/raw/hienergy/clicks_daily/.._up/job-000007/part-00000.xlsx"
    )

    local = LakeResource(root=str(tmp_path / "data")).table("enterpret", "feedback_daily", "x")
    assert local.local == tmp_path / "data/lake/enterpret/feedback_daily/x/data.parquet"
    assert local.uri == local.local.as_uri() and str(local) == str(local.local)


def test_a_write_is_published_when_its_block_succeeds(lake: LakeResource, tmp_path: Path) -> None:
    location = lake.location("analytics/daily/summary.parquet")
    table = pa.table({"vendor": ["enterpret", "hienergy"], "rows": [3, 4]})
    with lake.writing(location) as path:
        pq.write_table(table, path)
        if lake.on_s3:
            assert not location.exists()  # nothing on S3 until the block has succeeded

    assert location.size() == location.fs.get_file_info(location.path).size > 0
    assert pq.read_table(location.path, filesystem=location.fs).equals(table)
    with lake.reading(location) as local:
        assert pq.read_table(local).equals(table)
    if lake.on_s3:
        assert _files_under(lake.root_path() / "scratch") == []


def test_a_failing_block_leaves_what_was_there(lake: LakeResource) -> None:
    location = lake.location("lake/v/e/p/data.parquet")
    with lake.writing(location) as path:
        path.write_bytes(b"the good table")
    with pytest.raises(RuntimeError, match="check failed"), lake.writing(location) as path:
        path.write_bytes(b"a table that fails its check")
        raise RuntimeError("check failed")
    with lake.reading(location) as local:
        assert local.read_bytes() == b"the good table"

    fresh = lake.location("lake/v/e/q/data.parquet")
    with pytest.raises(RuntimeError), lake.writing(fresh) as path:
        path.write_bytes(b"half")
        raise RuntimeError("normalize failed")
    assert not fresh.exists()
    if lake.on_s3:
        assert _files_under(lake.root_path() / "scratch") == []
    else:
        assert [p.name for p in Path(location.path).parent.iterdir()] == ["data.parquet"]


def test_a_block_that_writes_nothing_publishes_nothing(lake: LakeResource) -> None:
    location = lake.location("lake/v/e/p/data.parquet")
    with pytest.raises(LakeError, match="nothing was written"), lake.writing(location):
        pass
    assert not location.exists()


def test_reading_a_missing_file_names_it(lake: LakeResource) -> None:
    location = lake.location("raw/v/e/p/job-000001/missing.json")
    with pytest.raises(LakeError, match=r"missing\.json"), lake.reading(location):
        pass


def test_an_s3_lake_needs_its_resource_and_a_possible_bucket(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no S3 resource"):
        LakeResource(s3_bucket="my-lake").table("v", "e", "p")
    with pytest.raises(LakeError, match="lower-case"):
        LakeResource(s3_bucket="My_Lake", s3=S3Resource()).table("v", "e", "p")


def test_settings_choose_the_lake(monkeypatch: pytest.MonkeyPatch, s3: LocalS3) -> None:
    for name in (settings.LAKE_URL_ENV, settings.S3_ENDPOINT_URL_ENV, settings.S3_REGION_ENV):
        monkeypatch.delenv(name, raising=False)
    assert not lake_from_settings().on_s3

    monkeypatch.setenv(settings.LAKE_URL_ENV, "s3://team-lake/exports/v1/")
    monkeypatch.setenv(settings.S3_ENDPOINT_URL_ENV, s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    lake = lake_from_settings()
    assert (lake.s3_bucket, lake.s3_prefix) == ("team-lake", "exports/v1")
    assert lake.s3 is not None and lake.s3.endpoint_url == s3.endpoint_url
    # The credentials are references to the variables, resolved when a run starts: the
    # definitions never hold the secret itself.
    assert isinstance(lake.s3.aws_secret_access_key, dg.EnvVar)
    assert SECRET_KEY not in repr(lake)
    assert lake.s3.aws_session_token is None

    monkeypatch.setenv(settings.LAKE_URL_ENV, "file:///tmp/lake")
    with pytest.raises(ValueError, match=settings.LAKE_URL_ENV):
        lake_from_settings()
    monkeypatch.setenv(settings.LAKE_URL_ENV, "s3://")
    with pytest.raises(ValueError, match="3 to 63"):
        lake_from_settings()

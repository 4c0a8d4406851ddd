"""The lake's layout, the same on local disk and on S3 (relative keys under the lake's root):

- ``raw/<vendor>/<export>/<partition>/job-<ledger id>/<file>``: every file a vendor job produced,
  kept as downloaded, so a partition can be normalized again without a new vendor export;
- ``lake/<vendor>/<export>/<partition>/data.parquet``: the normalized table of a partition;
- ``lake/<vendor>/<export>/<partition>/<form>.parquet``: a further form of it (Connhex's wide);
- ``lake/analytics/<vendor>/<name>/<partition>/data.parquet``: an analytics asset's result for a
  partition, computed from the export tables above.
"""


def safe(part: str) -> str:
    """A path segment that cannot climb out of its folder (partition keys are user data)."""
    cleaned = part.replace("/", "_").replace("\\", "_").replace("\x00", "")
    return "_" if cleaned in ("", ".", "..") else cleaned


def raw_folder_key(vendor: str, export: str, partition: str, job_id: int) -> str:
    return f"raw/{vendor}/{export}/{safe(partition)}/job-{job_id:06d}"


def table_key(vendor: str, export: str, partition: str) -> str:
    return f"lake/{vendor}/{export}/{safe(partition)}/data.parquet"


def form_key(vendor: str, export: str, partition: str, form: str) -> str:
    return f"lake/{vendor}/{export}/{safe(partition)}/{safe(form)}.parquet"


def analytics_key(vendor: str, name: str, partition: str) -> str:
    return f"lake/analytics/{vendor}/{safe(name)}/{safe(partition)}/data.parquet"

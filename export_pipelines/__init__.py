"""export_pipelines: vendors' asynchronous data-export APIs turned into typed Parquet datasets."""

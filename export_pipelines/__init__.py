"""export_pipelines: vendors' asynchronous data-export APIs turned into typed Parquet datasets.

Importing the package picks Arrow's jemalloc memory pool for the process, unless the environment
chose one (``ARROW_DEFAULT_MEMORY_POOL``) or pyarrow is already imported (Arrow reads the variable
once, when it is loaded). pyarrow's default on Linux, mimalloc, keeps the pages a thread freed for
that thread's next allocations; the normalization engine allocates on some threads (pyarrow's
parsers, the prefetch thread) and frees on others (the Parquet writer's), and those kept pages
added 25 to 55 MB to its peak RSS on the bench's files (docs/benchmarks.md), for the same CPU time.
Set on Linux only, where pyarrow's wheels have jemalloc.
"""

import os
import sys

if sys.platform == "linux" and "pyarrow" not in sys.modules:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

"""The rows a HiEnergy sandbox report holds, recomputed in another process (the demo's verifier).

The control endpoints give the generator's parameters and the report's ``search_params`` as the
sandbox understood them; the generator then lists the report's rows, every part in order.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from export_pipelines.sandbox.hienergy.generator import GeneratorParams, HiEnergyGenerator
from export_pipelines.sandbox.hienergy.search import parse_search
from export_pipelines.sandbox.hienergy.simulator import VENDOR


def expected_records(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """``request_body`` is not needed: the sandbox kept the report's own parameters."""
    control = f"{sandbox_url}/_sandbox/{VENDOR}"
    params = httpx.get(f"{control}/generator", timeout=10).raise_for_status().json()
    report = httpx.get(f"{control}/reports/{vendor_job_id}", timeout=10).raise_for_status().json()
    generator = HiEnergyGenerator(GeneratorParams.from_dict(params))
    report_type = report["report_type"]
    return generator.rows(report_type, parse_search(report_type, report["search_params"]))

"""``schema_drift`` in the catalog: checked when the document loads, as ``dg check defs`` does.

A value that is no policy is refused listing the policies; a policy a vendor's files cannot
follow is refused with the reason (Rebilly's formats, Connhex's fixed layouts); an export that
declares none gets rescue where its files can keep an undeclared field, freeze otherwise.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from export_pipelines.catalog import AsyncExport

DEFS = Path(__file__).resolve().parents[2] / "export_pipelines" / "defs"


def _catalog_entry(vendor: str) -> dict[str, Any]:
    """The vendor's first export as the project's catalog declares it."""
    for document in yaml.safe_load_all((DEFS / vendor / "defs.yaml").read_text()):
        if document["type"].endswith("AsyncExport"):
            attributes: dict[str, Any] = document["attributes"]
            return attributes
    raise AssertionError(f"no export for {vendor}")


def _policy(vendor: str, **attributes: Any) -> str:
    entry = {**_catalog_entry(vendor), **attributes}
    return AsyncExport.model_validate(entry).to_spec().schema_drift


def _refused(vendor: str, value: object) -> str:
    with pytest.raises(ValidationError) as error:
        _policy(vendor, schema_drift=value)
    return str(error.value)


@pytest.mark.parametrize("value", ["evolv", "Rescue", "", 3])
def test_a_value_that_is_no_policy_is_refused_listing_the_policies(value: object) -> None:
    message = _refused("enterpret", value)
    assert "schema_drift" in message
    assert "use one of rescue, evolve, freeze" in message or "string" in message


@pytest.mark.parametrize("vendor", ["enterpret", "hienergy", "hellodata"])
def test_vendors_that_rescue_default_to_rescue_and_take_every_policy(vendor: str) -> None:
    assert _policy(vendor) == "rescue"
    for policy in ("rescue", "evolve", "freeze"):
        assert _policy(vendor, schema_drift=policy) == policy


@pytest.mark.parametrize(
    ("vendor", "reason"),
    [
        ("rebilly", "differently in each format (text in csv and xml, typed and nested in json)"),
        ("connhex", "the fixed long layout or, wide, exactly the columns the request names"),
    ],
)
def test_a_policy_the_files_cannot_follow_is_refused_with_the_reason(
    vendor: str, reason: str
) -> None:
    assert _policy(vendor) == "freeze"
    assert _policy(vendor, schema_drift="freeze") == "freeze"
    for policy in ("rescue", "evolve"):
        message = _refused(vendor, policy)
        assert f"schema_drift: {policy} cannot apply: " in message
        assert reason in message and "only freeze applies" in message

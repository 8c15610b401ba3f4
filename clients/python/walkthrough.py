"""The README walkthrough (scripts/walkthrough.sh), through a Python client
generated from openapi/openapi.json by openapi-python-client.

Usage: python walkthrough.py BASE_URL, with the generated package
`motcua_client` importable (scripts/clients.sh generates it and starts a
fresh `motcua serve --demo`). Exits non-zero, saying why, on any failure.

Operations are found by method and path in the generated modules, and each
request body is built from the generated class of that operation's `body`
parameter, so schema and operation names may change freely. A body is
accepted only if the generated class declares every field the walkthrough
sends: a body the document leaves untyped (`{"type": "object"}`) gets a
class that keeps everything in `additional_properties`, and fails here.
"""

from __future__ import annotations

import enum
import importlib
import io
import re
import sys
import time
import typing
from pathlib import Path
from typing import Any

import attrs

import motcua_client
from motcua_client import AuthenticatedClient, Client
from motcua_client.types import File

PASSWORD = "motcua-demo"
CITIZEN, CLERK, OFFICER = "027090001234", "clerk", "officer"

# A minimal well-formed PDF (uploads must parse as PDF structure).
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n"
    b"trailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%EOF\n"
)


class Failure(Exception):
    """A step of the walkthrough did not go as the contract says."""


def operations() -> dict[tuple[str, str], Any]:
    """The generated operation modules, by (METHOD, path)."""
    found = {}
    root = Path(motcua_client.__file__).parent
    for source in sorted((root / "api").rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        method = re.search(r'"method": "(\w+)"', text)
        url = re.search(r'"url": "([^"]+)"', text)
        if method and url:
            name = ".".join(source.relative_to(root).with_suffix("").parts)
            found[(method[1].upper(), url[1])] = f"motcua_client.{name}"
    return found


OPERATIONS = operations()


def operation(method: str, path: str) -> Any:
    module = OPERATIONS.get((method, path))
    if module is None:
        raise Failure(f"{method} {path}: the generated client has no such operation")
    return importlib.import_module(module)


def parameter_type(module: Any, name: str) -> Any:
    """The generated type of an operation's parameter (`X | Unset` gives X)."""
    hint = typing.get_type_hints(module.sync_detailed).get(name)
    options = [t for t in typing.get_args(hint) if t.__name__ != "Unset"] or [hint]
    return options[0]


def undeclared(value: Any, at: str = "") -> list[str]:
    """Where a generated model kept fields it does not declare."""
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in undeclared(v, f"{at}[{i}]")]
    if not attrs.has(type(value)):
        return []
    found = [f"{at}.{key}".lstrip(".") for key in getattr(value, "additional_properties", {})]
    for field in attrs.fields(type(value)):
        if field.name != "additional_properties":
            found += undeclared(getattr(value, field.name), f"{at}.{field.name}")
    return found


def body(module: Any, label: str, data: dict[str, Any]) -> Any:
    """The operation's generated body class, filled with `data`; fails if
    the class does not declare every field (an untyped body)."""
    cls = parameter_type(module, "body")
    try:
        value = cls.from_dict(data)
    except (KeyError, ValueError, TypeError) as error:
        raise Failure(f"{label}: {data} does not fit the generated {cls.__name__}: {error!r}")
    loose = undeclared(value)
    if loose:
        raise Failure(
            f"{label}: the generated body type {cls.__name__} does not declare "
            f"{', '.join(loose)}; the document types this body as a free-form object"
        )
    return value


def call(method: str, path: str, client: Any, expect: int, data: Any = None, **kwargs: Any) -> Any:
    """Calls an operation and returns its parsed answer; fails on any other status."""
    module = operation(method, path)
    label = f"{method} {path}"
    if isinstance(data, dict):
        kwargs["body"] = body(module, label, data)
    elif data is not None:
        kwargs["body"] = data
    for name, value in kwargs.items():
        kind = parameter_type(module, name)
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and isinstance(value, str):
            kwargs[name] = kind(value)  # a closed set: the generated enum
    response = module.sync_detailed(client=client, **kwargs)
    if response.status_code != expect:
        raise Failure(
            f"{label}: answered {int(response.status_code)}, not {expect}: "
            f"{response.content.decode('utf-8', 'replace')[:500]}"
        )
    if response.parsed is None:
        raise Failure(f"{label}: the generated client could not parse the answer")
    return response.parsed


def login(base_url: str, username: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    tokens = call(
        "POST",
        "/api/v1/auth/token",
        anonymous,
        200,
        {"username": username, "password": PASSWORD},
    )
    return AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )


def upload(client: AuthenticatedClient, name: str) -> str:
    module = operation("POST", "/api/v1/files")
    cls = parameter_type(module, "body")
    if "file" not in {f.name for f in attrs.fields(cls)}:
        raise Failure(f"POST /api/v1/files: the generated body type {cls.__name__} has no `file` field")
    document = File(payload=io.BytesIO(PDF), file_name=name, mime_type="application/pdf")
    stored = call("POST", "/api/v1/files", client, 201, cls(file=document))
    return str(stored.id)


class Dossier:
    """The dossier walked through, and its current version (sent as If-Match)."""

    def __init__(self, dossier_id: str) -> None:
        self.id = dossier_id
        self.version = 1

    def act(self, client: AuthenticatedClient, action: str, data: dict[str, Any]) -> None:
        path = f"/api/v1/dossiers/{{id}}/{action}"
        module = operation("POST", path)
        if_match = f'"{self.version}"'
        if "if_match" in typing.get_type_hints(module.sync_detailed):
            # The document declares the If-Match header: the client sends it.
            view = call("POST", path, client, 200, data, id=self.id, if_match=if_match)
        else:
            view = call(
                "POST", path, client.with_headers({"If-Match": if_match}), 200, data, id=self.id
            )
        self.version = view.version
        print(f"{action} -> {getattr(view.status, 'value', view.status)} (version {view.version})")


def walkthrough(base_url: str) -> None:
    citizen, clerk, officer = (login(base_url, user) for user in (CITIZEN, CLERK, OFFICER))
    me = call("GET", "/api/v1/me", clerk, 200)
    agency = str(me.agency.id)

    # 1. The citizen uploads two PDF scans and files a temporary-residence
    # registration (1.004194) online with them.
    form, proof = upload(citizen, "to-khai.pdf"), upload(citizen, "cho-o.pdf")
    filed = call(
        "POST",
        "/api/v1/dossiers",
        citizen,
        201,
        {
            "procedure_code": "1.004194",
            "agency_id": agency,
            "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
            "documents": [
                {"requirement_code": "TK", "file_id": form},
                {"requirement_code": "CM", "file_id": proof},
            ],
            "result_delivery": "online",
        },
        idempotency_key=f"walkthrough-{time.time_ns()}",
    )
    print(f"filed {filed.code} (acknowledge by {filed.ack_due_at})")
    dossier = Dossier(str(filed.id))

    # 2. The desk accepts it; 3. hands it to the officer; 4. the officer asks
    # for a supplement; 5. the citizen supplies it; 6. the officer records
    # the result; 7. the desk returns it online; 8. the citizen rates it.
    dossier.act(clerk, "accept", {})
    dossier.act(clerk, "handover", {"to_step": "Thẩm định"})
    dossier.act(
        officer,
        "request-supplement",
        {
            "reason": "Giấy tờ chứng minh chỗ ở bị mờ",
            "items": [
                {
                    "requirement_code": "CM",
                    "name": "Giấy tờ chứng minh chỗ ở hợp pháp",
                    "problem": "ảnh mờ",
                }
            ],
        },
    )
    again = upload(citizen, "cho-o.pdf")
    dossier.act(citizen, "supplement", {"documents": [{"requirement_code": "CM", "file_id": again}]})
    dossier.act(officer, "complete", {"outcome": "approved", "electronic_result": True})
    dossier.act(clerk, "return", {"delivery": "online"})
    dossier.act(citizen, "rating", {"overall": "very_satisfied"})

    # The control slip, and the dossier's hash-chained history verifies.
    slip = call(
        "GET", "/api/v1/dossiers/{id}/forms/{form}", clerk, 200, id=dossier.id, form="control_slip"
    )
    print(f"control slip: {slip.title} ({len(slip.fields)} fields, {len(slip.tables)} table)")
    verified = call("GET", "/api/v1/audit/verify", clerk, 200, dossier_id=dossier.id)
    if not verified.ok:
        raise Failure(f"the dossier's history does not verify: {verified.to_dict()}")
    print(f"history verified: {verified.events_checked} events")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: walkthrough.py BASE_URL", file=sys.stderr)
        return 2
    try:
        walkthrough(sys.argv[1])
    except Failure as failure:
        print(f"walkthrough failed: {failure}", file=sys.stderr)
        return 1
    except Exception as error:  # the generated client's own errors, with their cause
        print(f"walkthrough failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("the generated Python client ran the walkthrough")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Entity group transactions (`$batch`) on one table partition, encoded and decoded here.

The Tables SDK builds the multipart request and parses the multipart response with the `email` package:
about 40% of the host's CPU against Azurite went there, for the one batch each checkpoint sends. The
format is small and fixed (Azure Table service, "Performing entity group transactions"), so this module
writes the body with string formatting and reads back only what a checkpoint needs: each part's status
and ETag, or the error that rejected the whole group. The request still goes through the table client's
own pipeline (authentication, retries, request counting).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from azure.core.rest import HttpRequest
from azure.data.tables import EdmType
from azure.data.tables.aio import TableClient

API_VERSION = "2019-02-02"  # the version the Tables SDK speaks
_INT32 = range(-(2**31), 2**31)

OperationKind = Literal["upsert", "create", "merge", "delete"]


@dataclass(frozen=True)
class TableOperation:
    """One write in a group. `upsert` inserts or replaces; `create` fails with 409 if the row exists;
    `merge` and `delete` need the row, and match `etag` when one is given (else any version)."""

    kind: OperationKind
    entity: Mapping[str, Any]
    etag: str | None = None


class TableTransactionFailed(Exception):
    """The service rejected the group: nothing in it was written."""

    def __init__(self, table: str, status_code: int, error_code: str, message: str) -> None:
        super().__init__(
            f"A transaction on table {table!r} failed with {status_code} {error_code}: {message}"
        )
        self.status_code = status_code
        self.error_code = error_code


async def submit(table: TableClient, operations: Sequence[TableOperation]) -> list[str | None]:
    """Send `operations` (one partition, at most 100) as one transaction; the ETag each part returned."""
    base = _endpoint(table)
    batch_boundary = f"batch_{uuid.uuid4()}"
    body = encode_batch(base, table.table_name, operations, batch_boundary, f"changeset_{uuid.uuid4()}")
    request = HttpRequest(
        "POST",
        f"{base}/$batch",
        headers={
            "x-ms-version": API_VERSION,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={batch_boundary}",
            "Accept": "application/json",
        },
        content=body,
    )
    # The SDK's own transactions go through this generated client too; it signs and retries them.
    # Streamed, so its content-decoding policy leaves the multipart body alone.
    response = await table._client.send_request(request, stream=True)
    content = await response.read()
    if response.status_code != 202:
        code, message = _error_of(content)
        raise TableTransactionFailed(table.table_name, response.status_code, code, message)
    parts = decode_batch_response(content, response.headers.get("Content-Type", ""))
    for part in parts:
        if not 200 <= part.status_code < 300:
            raise TableTransactionFailed(table.table_name, part.status_code, part.error_code, part.message)
    if len(parts) != len(operations):
        raise ValueError(
            f"A $batch on table {table.table_name!r} sent {len(operations)} operations and read back "
            f"{len(parts)} results"
        )
    return [part.etag for part in parts]


def _endpoint(table: TableClient) -> str:
    """The account's table endpoint without any SAS query (the pipeline adds credentials itself)."""
    parts = urlsplit(table.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


# -- the request ----------------------------------------------------------------------------------------
def encode_batch(
    base: str, table: str, operations: Sequence[TableOperation], batch_boundary: str, changeset_boundary: str
) -> bytes:
    """The multipart/mixed body: one changeset holding one HTTP request per operation."""
    out = [f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset_boundary}\r\n\r\n"]
    for index, operation in enumerate(operations):
        out.append(
            f"--{changeset_boundary}\r\n"
            "Content-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: {index}\r\n\r\n"
        )
        out.append(_encode_operation(base, table, operation))
    out.append(f"--{changeset_boundary}--\r\n\r\n--{batch_boundary}--\r\n")
    return "".join(out).encode("utf-8")


def _encode_operation(base: str, table: str, operation: TableOperation) -> str:
    entity = operation.entity
    row_url = (
        f"{base}/{quote(table, safe='')}(PartitionKey='{_key(entity['PartitionKey'])}',"
        f"RowKey='{_key(entity['RowKey'])}')"
    )
    headers = ["x-ms-version: " + API_VERSION, "DataServiceVersion: 3.0", "Accept: application/json"]
    body = ""
    if operation.kind == "create":
        line = f"POST {base}/{quote(table, safe='')} HTTP/1.1"
        headers.append("Prefer: return-no-content")
    elif operation.kind == "upsert":
        line = f"PUT {row_url} HTTP/1.1"
    elif operation.kind == "merge":
        line = f"MERGE {row_url} HTTP/1.1"
        headers.append(f"If-Match: {operation.etag or '*'}")
    elif operation.kind == "delete":
        line = f"DELETE {row_url} HTTP/1.1"
        headers.append(f"If-Match: {operation.etag or '*'}")
    else:
        raise ValueError(f"Unknown table operation {operation.kind!r}")
    if operation.kind != "delete":
        body = entity_json(entity)
        headers += ["Content-Type: application/json", f"Content-Length: {len(body.encode('utf-8'))}"]
    return f"{line}\r\n" + "".join(f"{h}\r\n" for h in headers) + f"\r\n{body}\r\n"


def _key(value: str) -> str:
    """A key inside the `(PartitionKey='...')` of a URL: quotes doubled, then percent-encoded."""
    return quote(value.replace("'", "''"), safe="")


def entity_json(entity: Mapping[str, Any]) -> str:
    """The entity as the service's JSON, with the `@odata.type` annotations the Tables SDK writes."""
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            raw, edm = value
            out[name] = raw
            out[f"{name}@odata.type"] = _edm_name(edm)
        elif isinstance(value, bool):
            out[name] = value
        elif isinstance(value, int):
            if value in _INT32:
                out[name] = value
            else:
                out[name] = str(value)
                out[f"{name}@odata.type"] = "Edm.Int64"
        elif isinstance(value, str):
            out[name] = value
            out[f"{name}@odata.type"] = "Edm.String"
        elif isinstance(value, float):
            out[name] = value
            out[f"{name}@odata.type"] = "Edm.Double"
        elif isinstance(value, datetime):
            moment = value.astimezone(timezone.utc) if value.tzinfo else value
            out[name] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out[f"{name}@odata.type"] = "Edm.DateTime"
        else:
            raise TypeError(f"Column {name!r} holds a {type(value).__name__}, which a table cell cannot hold")
    return json.dumps(out)


def _edm_name(edm: EdmType | str) -> str:
    return edm.value if isinstance(edm, Enum) else str(edm)


# -- the response ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartResult:
    status_code: int
    etag: str | None
    error_code: str = ""
    message: str = ""


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"^HTTP/1\.[01] (\d{3})", re.MULTILINE)


def decode_batch_response(content: bytes, content_type: str) -> list[PartResult]:
    """Each changeset part's status, ETag and (for a failure) error code and message."""
    text = content.decode("utf-8").replace("\r\n", "\n")  # the service sends CRLF; accept bare LF too
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"A $batch response without a multipart boundary (Content-Type {content_type!r})")
    # The batch holds one part, the changeset response, which has a boundary of its own.
    outer = _parts(text, match.group(1))
    if not outer:
        raise ValueError("A $batch response with no parts")
    header_block, _, changeset = outer[0].partition("\n\n")
    inner = _BOUNDARY.search(header_block)
    if inner is None:  # a failure outside any changeset: the part is the HTTP response itself
        return [_part_result(outer[0])]
    return [_part_result(part) for part in _parts(changeset, inner.group(1))]


def _parts(text: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    pieces = text.split(delimiter)
    # pieces[0] is the preamble; the last piece starts with "--" (the closing delimiter).
    return [piece.strip("\n") for piece in pieces[1:] if not piece.startswith("--")]


def _part_result(part: str) -> PartResult:
    status = _STATUS_LINE.search(part)
    if status is None:
        raise ValueError(f"A $batch response part without an HTTP status line: {part[:200]!r}")
    response = part[status.start() :]
    head, _, body = response.partition("\n\n")
    etag = None
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "etag":
            etag = value.strip()
    code = int(status.group(1))
    if 200 <= code < 300:
        return PartResult(code, etag)
    error_code, message = _error_of(body.encode("utf-8"))
    return PartResult(code, etag, error_code, message)


def _error_of(body: bytes) -> tuple[str, str]:
    """(code, message) from an OData JSON error body; the raw text when it is not one."""
    text = body.decode("utf-8", "replace").strip()
    try:
        error = json.loads(text)["odata.error"]
        return str(error.get("code", "")), str(error.get("message", {}).get("value", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", text[:500]

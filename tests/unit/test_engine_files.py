"""Items that hold an uploaded file (x-twin `file`, the `download` action): what Opendatasoft's resource files,
attachments and alternative exports declare. Over HTTP, since multipart bodies are the point."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.clock import Clock
from apitwin.engine import SpecError, TwinState, UploadedFile, build_model
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store
from tests.support.tiny_twin import tiny_twin

TEXT = {"type": "string"}
UID = {"name": "dataset_uid", "in": "path", "required": True, "schema": TEXT}
ATTACHMENT_UID = {"name": "attachment_uid", "in": "path", "required": True, "schema": TEXT}
ATTACHMENT = {"$ref": "#/components/schemas/Attachment"}
JSON_ATTACHMENT = {"content": {"application/json": {"schema": ATTACHMENT}}}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "tiny", "version": "1"},
    "security": [{"QueryAPIKey": []}],
    "x-twin": {
        "collections": {
            "datasets": {"schema": "Dataset", "id": {"field": "uid", "style": "given"}},
            "attachments": {
                "schema": "Attachment",
                "id": {"field": "uid", "style": "prefixed", "prefix": "at_"},
                "parent": {"collection": "datasets", "field": "dataset_uid", "public": False},
                "file": {"filename": "filename", "mimetype": "mimetype", "size": "size"},
                "created": "created_at",
            },
        },
    },
    "components": {
        "securitySchemes": {"QueryAPIKey": {"type": "apiKey", "in": "query", "name": "apikey"}},
        "schemas": {
            "Dataset": {"type": "object", "properties": {"uid": TEXT}},
            "Attachment": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "uid": {"type": "string", "readOnly": True},
                    "title": {"type": "string", "nullable": True},
                    "filename": {"type": "string", "readOnly": True},
                    "mimetype": {"type": "string", "readOnly": True},
                    "size": {"type": "integer", "readOnly": True},
                    "created_at": {"type": "string", "readOnly": True},
                },
            },
        },
    },
    "paths": {
        "/datasets/{dataset_uid}/attachments/": {
            "x-twin": {"collection": "attachments"},
            "parameters": [UID],
            "get": {"operationId": "listAttachments", "responses": {"200": {"description": "all", "content": {
                "application/json": {"schema": {"type": "array", "items": ATTACHMENT}}}}}},
            "post": {
                "operationId": "createAttachment",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, "title": TEXT}}}}},
                "responses": {"201": {"description": "created", **JSON_ATTACHMENT}},
            },
        },
        "/datasets/{dataset_uid}/attachments/{attachment_uid}/": {
            "x-twin": {"collection": "attachments"},
            "parameters": [UID, ATTACHMENT_UID],
            "get": {"operationId": "getAttachment", "responses": {"200": {"description": "one", **JSON_ATTACHMENT}}},
            "delete": {"operationId": "deleteAttachment", "responses": {"204": {"description": "gone"}}},
        },
        "/datasets/{dataset_uid}/attachments/{attachment_uid}/download/": {
            "x-twin": {"collection": "attachments", "action": "download"},
            "parameters": [UID, ATTACHMENT_UID],
            "get": {"operationId": "downloadAttachment", "responses": {"200": {"description": "the file", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}},
        },
    },
}  # fmt: skip
FIXTURES = {"credentials": [{"name": "ci", "credential": "K"}], "collections": {"datasets": [{"uid": "da_one"}]}}
BASE = "/tiny/api/datasets/da_one/attachments/"


def tiny_error(error: TwinError) -> Mapping[str, Any]:
    return {"error_code": error.kind.value, "message": error.message}


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with tiny_twin(tmp_path, monkeypatch, SPEC, FIXTURES, tiny_error, validate_responses=True) as client:
        yield client


def hostile_bytes() -> bytes:
    """What breaks naive multipart handling: NULs, CRLFs, a boundary-looking line, bytes that are not UTF-8."""
    return os.urandom(2_000_000) + b"\r\n--boundary\r\n\x00\x00\r\n" + os.urandom(3_000_000) + b"\xff\xfe\r\n"


def test_an_uploaded_file_downloads_byte_for_byte_with_its_type_and_name(http: TestClient) -> None:
    data = hostile_bytes()
    files = {"file": ("rapport annuel.pdf", data, "application/pdf")}
    created = http.post(BASE, params={"apikey": "K"}, files=files, data={"title": "Annual report"})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["filename"] == "rapport annuel.pdf" and item["mimetype"] == "application/pdf"
    assert item["size"] == len(data) and item["title"] == "Annual report" and item["uid"].startswith("at_")
    assert "file_blob" not in item and "dataset_uid" not in item  # the blob reference stays in the store
    download = http.get(f"{BASE}{item['uid']}/download/", params={"apikey": "K"})
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert download.headers["content-type"] == "application/octet-stream"  # what the operation documents
    assert download.headers["content-disposition"] == 'attachment; filename="rapport annuel.pdf"'
    listed = http.get(BASE, params={"apikey": "K"}).json()
    assert [a["uid"] for a in listed] == [item["uid"]] and "file_blob" not in listed[0]


def test_a_create_without_its_file_is_a_400_and_a_client_cannot_write_the_blob_reference(http: TestClient) -> None:
    missing = http.post(BASE, params={"apikey": "K"}, data={"title": "no file"}, files={"other": ("x", b"x")})
    assert missing.status_code == 400
    sneaky = {"title": "t", "file_blob": "sha256:" + "0" * 64}
    created = http.post(BASE, params={"apikey": "K"}, files={"file": ("a.txt", b"mine", "text/plain")}, data=sneaky)
    download = http.get(f"{BASE}{created.json()['uid']}/download/", params={"apikey": "K"})
    assert download.content == b"mine"


def test_a_file_name_cannot_break_the_download_headers(http: TestClient) -> None:
    name = 'données "2024".csv'
    created = http.post(BASE, params={"apikey": "K"}, files={"file": (name, b"a;b\n", "text/csv")}).json()
    disposition = http.get(f"{BASE}{created['uid']}/download/", params={"apikey": "K"}).headers["content-disposition"]
    assert disposition.startswith('attachment; filename="donn?es ')  # an ASCII fallback, then the name itself
    assert "filename*=UTF-8''donn%C3%A9es%20" in disposition


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.csv", 'attachment; filename="report.csv"'),
        ('a"b\\c.csv', "attachment; filename=\"a_b_c.csv\"; filename*=UTF-8''a%22b%5Cc.csv"),
        ("x\r\nX-Injected: 1", "attachment; filename=\"x__X-Injected: 1\"; filename*=UTF-8''x__X-Injected%3A%201"),
    ],
)
def test_a_disposition_quotes_what_a_header_cannot_hold(name: str, expected: str) -> None:
    from apitwin.engine.handlers import _disposition

    assert _disposition(name) == expected


def test_the_file_of_a_deleted_item_or_another_parent_is_not_found(http: TestClient) -> None:
    uid = http.post(BASE, params={"apikey": "K"}, files={"file": ("a.txt", b"a")}).json()["uid"]
    assert http.get(f"/tiny/api/datasets/da_two/attachments/{uid}/download/", params={"apikey": "K"}).status_code == 404
    assert http.delete(f"{BASE}{uid}/", params={"apikey": "K"}).status_code == 204
    assert http.get(f"{BASE}{uid}/download/", params={"apikey": "K"}).status_code == 404


def test_a_file_survives_a_restart_on_the_same_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, store = hostile_bytes(), tmp_path / "db.json"
    with tiny_twin(tmp_path, monkeypatch, SPEC, FIXTURES, tiny_error, data=store) as first:
        uid = first.post(BASE, params={"apikey": "K"}, files={"file": ("a.bin", data)}).json()["uid"]
    assert store.stat().st_size < 10_000  # the bytes live beside the store, not in it
    with tiny_twin(tmp_path, monkeypatch, SPEC, FIXTURES, tiny_error, data=store) as second:
        assert second.get(f"{BASE}{uid}/download/", params={"apikey": "K"}).content == data


def test_an_upload_beyond_the_stores_limit_is_too_large() -> None:
    model = build_model(SPEC)
    state = TwinState("tiny", Store(max_blob=10), Clock(), model.conventions, model.collections)
    state.collection("datasets").create({"uid": "da_one"})
    attachments = state.collection("attachments").under("da_one")
    with pytest.raises(TwinError) as too_large:
        attachments.create_with_file({}, UploadedFile("big.bin", None, b"x" * 11))
    assert too_large.value.kind is ErrorKind.TOO_LARGE and attachments.all() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"file": {"blob": "title"}}, "blob field 'title' is a property"),
        ({"file": {"filename": "name"}}, "field 'name' is not a property"),
        ({"file": {"bytes": "x"}}, r"unknown x-twin key\(s\) \['bytes'\]"),
    ],
)
def test_a_wrong_file_declaration_stops_the_build(change: dict[str, Any], message: str) -> None:
    spec = {**SPEC, "x-twin": {"collections": {**SPEC["x-twin"]["collections"]}}}
    spec["x-twin"]["collections"]["attachments"] = {**spec["x-twin"]["collections"]["attachments"], **change}
    with pytest.raises(SpecError, match=message):
        build_model(spec)


def test_download_needs_a_collection_of_files() -> None:
    spec = {**SPEC, "paths": {**SPEC["paths"]}}
    spec["paths"]["/datasets/{dataset_uid}/attachments/{attachment_uid}/download/"] = {
        **SPEC["paths"]["/datasets/{dataset_uid}/attachments/{attachment_uid}/download/"],
        "x-twin": {"collection": "datasets", "action": "download", "id": "dataset_uid"},
    }
    with pytest.raises(SpecError, match="action download needs a collection that declares x-twin file"):
        build_model(spec)

"""A dataset's files over HTTP, on both Automation API twins: uploaded resource files, resources that read them,
extractor guesses and previews of those files, realtime actions, attachments and alternative exports."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from apitwin.store import Store
from tests.e2e.shell import served
from tests.e2e.test_automation_lifecycle import TWINS, Portal

FROMAGES = "nom;région;lait\nComté;Jura;vache\nRoquefort;Occitanie;brebis\nCrottin de Chavignol;Centre;chèvre\n"
WITH_FILES = "da_q7fmxr"  # the fixtures' published dataset with files (resources.yaml's examples)


class Files(Portal):
    """A portal, with the multipart requests that upload files."""

    def upload(self, uid: str, name: str, data: bytes, media_type: str = "text/csv") -> Any:
        files = {"file": (name, data, media_type)}
        return self.client.post(f"{self.base}/datasets/{uid}/resources/files/", files=files, headers=self.headers)

    def upload_csv(self, uid: str, name: str = "fromages.csv", text: str = FROMAGES) -> None:
        uploaded = self.upload(uid, name, text.encode())
        assert uploaded.status_code == 200, uploaded.text

    def new_resource(self, uid: str, file_uid: str = "fromages.csv") -> str:
        body = {
            "type": "csvfile",
            "title": "Cheeses",
            "datasource": {"type": "uploaded_file", "file": {"uid": file_uid}},
        }
        created = self.post(f"/datasets/{uid}/resources/", body)
        assert created.status_code == 201, created.text
        return str(created.json()["uid"])

    def multipart(self, path: str, name: str, data: bytes, **fields: str) -> Any:
        files = {"file": (name, data, "application/octet-stream")}
        return self.client.post(self.base + path, data=fields, files=files, headers=self.headers)


@pytest.fixture(params=TWINS)
def portal(request: pytest.FixtureRequest, make_client: Any) -> Files:
    return Files(make_client(*TWINS), request.param)


def hostile_binary(size: int = 5 * 1024 * 1024) -> bytes:
    """Random bytes with what breaks a careless multipart reader: NULs, CRLFs and a boundary-like line."""
    data = bytearray(random.Random(13).randbytes(size))
    data[1000:1010] = b"\0" * 10
    data[2000:2004] = b"\r\n\r\n"
    line = b'\r\n--boundary\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
    data[size // 2 : size // 2 + len(line)] = line
    return bytes(data)


def test_a_5_mb_binary_upload_downloads_byte_for_byte(portal: Files) -> None:
    uid, data = portal.new_dataset(), hostile_binary()
    uploaded = portal.upload(uid, "counts.bin", data, "application/octet-stream")
    assert uploaded.status_code == 200 and uploaded.json()["uid"] == "counts.bin"
    downloaded = portal.get(f"/datasets/{uid}/resources/files/counts.bin/download/")
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert downloaded.headers["content-disposition"] == 'attachment; filename="counts.bin"'
    assert downloaded.headers["content-type"] == "application/octet-stream"


def test_uploading_a_name_again_replaces_its_content_and_keeps_its_uid(portal: Files) -> None:
    uid = portal.new_dataset()
    first = portal.upload(uid, "fromages.csv", b"a;b\n1;2\n").json()
    portal.clock.advance(60)
    again = portal.upload(uid, "fromages.csv", FROMAGES.encode(), "text/plain")
    assert again.status_code == 200
    assert again.json() == {**first, "mimetype": "text/plain"}  # the same uid and creation time
    assert portal.get(f"/datasets/{uid}/resources/files/fromages.csv/download/").content == FROMAGES.encode()
    assert portal.get(f"/datasets/{uid}/resources/files/fromages.csv/").json() == again.json()


def test_a_semicolon_separated_csv_is_guessed_and_previewed_from_its_content(portal: Files) -> None:
    uid = portal.new_dataset()
    portal.upload_csv(uid)
    datasource = {"type": "uploaded_file", "file": {"uid": "fromages.csv"}}
    extractors = portal.post(f"/datasets/{uid}/resources/guess_extractors/", {"datasource": datasource})
    assert extractors.status_code == 200 and [e["type"] for e in extractors.json()] == ["csvfile"]
    assert extractors.json()[0] == portal.get("/extractors/").json()[0]  # the catalogue's object
    guessed = portal.post(
        f"/datasets/{uid}/resources/guess_extractor_params/", {"datasource": datasource, "type": "csvfile"}
    ).json()
    assert guessed["extractor"] == "csvfile" and guessed["params"]["separator"] == ";"
    resource = portal.new_resource(uid)
    assert portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors_params/").json() == guessed
    assert portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors/").json() == extractors.json()
    preview = portal.post(
        f"/datasets/{uid}/resources/preview/",
        {"datasource": datasource, "type": "csvfile", "params": guessed["params"]},
    ).json()
    assert [(f["name"], f["label"]) for f in preview["fields"]] == [
        ("nom", "nom"),
        ("region", "région"),
        ("lait", "lait"),
    ]
    assert preview["records"][:2] == [
        {"nom": "Comté", "region": "Jura", "lait": "vache"},
        {"nom": "Roquefort", "region": "Occitanie", "lait": "brebis"},
    ]
    assert portal.get(f"/datasets/{uid}/resources/{resource}/preview/").json() == preview  # params guessed


def test_a_resource_naming_a_file_its_dataset_does_not_have_is_a_400_on_the_field(portal: Files) -> None:
    uid, other = portal.new_dataset("trees"), portal.new_dataset("benches")
    portal.upload_csv(other)  # another dataset's file is not this one's
    body = {
        "type": "csvfile",
        "title": "Cheeses",
        "datasource": {"type": "uploaded_file", "file": {"uid": "fromages.csv"}},
    }
    refused = portal.post(f"/datasets/{uid}/resources/", body)
    assert refused.status_code == 400
    assert refused.json() == {
        "error_code": "validation_error",
        "message": "Invalid input",
        "detail": {"datasource.file.uid": ["no resource file with id fromages.csv"]},
    }
    preview = portal.post(f"/datasets/{uid}/resources/preview/", {"datasource": body["datasource"], "type": "csvfile"})
    assert preview.status_code == 400 and preview.json()["detail"] == refused.json()["detail"]
    assert portal.get(f"/datasets/{uid}/resources/").json()["total_count"] == 0


def test_a_remote_datasource_is_a_400_saying_the_twin_reads_uploaded_files_only(portal: Files) -> None:
    http = {"type": "http", "connection": {"uid": "co_qf2hyt"}, "relative_url": "/fromages.csv"}
    resource = portal.post(f"/datasets/{WITH_FILES}/resources/", {"type": "csvfile", "title": "x", "datasource": http})
    assert resource.status_code == 201
    for answer in (
        portal.post(f"/datasets/{WITH_FILES}/resources/preview/", {"datasource": http, "type": "csvfile"}),
        portal.get(f"/datasets/{WITH_FILES}/resources/{resource.json()['uid']}/guess_extractors/"),
    ):
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "bad_request"
        assert answer.json()["message"].startswith("The twin reads uploaded files only")


def test_a_file_its_extractor_cannot_read_is_a_400_with_the_reason(portal: Files) -> None:
    uid = portal.new_dataset()
    portal.upload(uid, "photo.csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png")
    resource = portal.new_resource(uid, "photo.csv")
    refused = portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors_params/")
    assert refused.status_code == 400
    assert refused.json() == {"error_code": "bad_request", "message": "The file is binary, not CSV text"}
    assert portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors/").json() == []


def test_recovering_realtime_data_needs_a_published_dataset(portal: Files) -> None:
    uid = portal.new_dataset()
    portal.upload_csv(uid)
    resource = portal.new_resource(uid)
    for action in ("recover", "delete_recover_data"):
        refused = portal.post(f"/datasets/{uid}/resources/{resource}/{action}/")
        assert refused.status_code == 400
        message = "Invalid precondition, the dataset is not published"
        assert refused.json() == {"error_code": "invalid_dataset_status", "message": message}
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(10)
    shown = portal.get(f"/datasets/{uid}/resources/{resource}/").json()
    for action in ("recover", "delete_recover_data", "enable", "disable", "renew_api_key"):
        assert portal.post(f"/datasets/{uid}/resources/{resource}/{action}/").json() == shown
    assert portal.post(f"/datasets/{uid}/resources/re_absent/recover/").status_code == 404


def test_cleaning_a_resource_cache_answers_204_with_no_body(portal: Files) -> None:
    cleaned = portal.post(f"/datasets/{WITH_FILES}/resources/re_qf2hyt/clean_cache/")
    assert (cleaned.status_code, cleaned.content) == (204, b"")
    assert portal.post(f"/datasets/{WITH_FILES}/resources/re_absent/clean_cache/").status_code == 404


def test_a_url_alternative_export_downloads_as_a_303_to_its_url(portal: Files) -> None:
    path = f"{portal.base}/datasets/da_kxbtjj/alternative_exports/ae_t5v0zj/download/"
    redirected = portal.client.get(path, headers=portal.headers, follow_redirects=False)
    assert redirected.status_code == 303 and redirected.content == b""
    assert redirected.headers["location"] == "https://data.example.org/bicycle-counts-history.zip"


def test_an_uploaded_alternative_export_downloads_its_file_and_keeps_its_type(portal: Files) -> None:
    created = portal.multipart(
        f"/datasets/{WITH_FILES}/alternative_exports/", "markets.gpkg", b"SQLite format 3\0", title="Markets",
        type="uploaded_file", description="As GeoPackage",
    )  # fmt: skip
    assert created.status_code == 201, created.text
    export = created.json()
    assert (export["type"], export["filename"], export["title"]) == ("uploaded_file", "markets.gpkg", "Markets")
    download = portal.get(f"/datasets/{WITH_FILES}/alternative_exports/{export['uid']}/download/")
    assert download.content == b"SQLite format 3\0"
    path = f"/datasets/{WITH_FILES}/alternative_exports/{export['uid']}/"
    renamed = portal.put(path, {"title": "Markets (GeoPackage)", "type": "uploaded_file"})
    assert renamed.status_code == 200 and renamed.json()["filename"] == "markets.gpkg"
    refused = portal.put(path, {"title": "Markets", "type": "url"})
    assert refused.status_code == 400 and list(refused.json()["detail"]) == ["type"]


def test_an_attachment_is_uploaded_downloaded_and_deleted(portal: Files) -> None:
    created = portal.multipart(f"/datasets/{WITH_FILES}/attachments/", "méthode.pdf", b"%PDF-1.7\r\n%\xe2\xe3")
    assert created.status_code == 201 and created.json()["uid"].startswith("at_")
    path = f"/datasets/{WITH_FILES}/attachments/{created.json()['uid']}/"
    download = portal.get(path + "download/")
    assert download.content == b"%PDF-1.7\r\n%\xe2\xe3"
    assert (
        download.headers["content-disposition"]
        == "attachment; filename=\"m?thode.pdf\"; filename*=UTF-8''m%C3%A9thode.pdf"
    )
    assert portal.client.delete(portal.base + path, headers=portal.headers).status_code == 204
    assert portal.get(path + "download/").status_code == 404


def test_a_copy_carries_the_resources_and_their_files_and_a_version_restores_them(portal: Files) -> None:
    uid = portal.new_dataset()
    portal.upload_csv(uid)
    resource = portal.new_resource(uid)
    before = portal.get(f"/datasets/{uid}/versions/").json()["results"][-1]
    assert before["sections"] == ["resources"]
    copy = portal.post(f"/datasets/{uid}/copy/").json()["uid"]
    copied = portal.get(f"/datasets/{copy}/resources/").json()["results"]
    assert (
        len(copied) == 1 and copied[0]["uid"] != resource and copied[0]["datasource"]["file"]["uid"] == "fromages.csv"
    )
    assert portal.get(f"/datasets/{copy}/resources/files/fromages.csv/download/").content == FROMAGES.encode()
    assert (
        portal.client.delete(f"{portal.base}/datasets/{uid}/resources/{resource}/", headers=portal.headers).status_code
        == 204
    )
    portal.post(f"/datasets/{uid}/versions/{before['uid']}/restore/")
    assert [r["uid"] for r in portal.get(f"/datasets/{uid}/resources/").json()["results"]] == [resource]


@pytest.mark.parametrize(
    "limit",
    [{"max_body_bytes": 1024 * 1024}, {"store": "max_blob"}],
    ids=["the server's body limit", "the store's file limit"],
)
def test_an_upload_beyond_the_limit_is_a_413_in_the_apis_shape(make_client: Any, limit: dict[str, Any]) -> None:
    options = {"store": Store(max_blob=1024 * 1024)} if limit.get("store") else limit
    portal = Files(make_client(*TWINS, **options), "opendatasoft")
    uid = portal.new_dataset()
    too_large = portal.upload(uid, "big.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")
    assert too_large.status_code == 413
    assert too_large.json()["error_code"] == "request_too_large" and set(too_large.json()) == {"error_code", "message"}
    assert portal.get(f"/datasets/{uid}/resources/files/big.bin/").status_code == 404


def test_the_files_path_allows_its_own_methods_not_those_of_a_resource(portal: Files) -> None:
    probed = portal.client.options(f"{portal.base}/datasets/{WITH_FILES}/resources/files/", headers=portal.headers)
    assert probed.status_code == 405 and probed.headers["allow"] == "POST"


def _store_size(data: Path) -> int:
    """The store's own files (base and log), not the blobs beside them."""
    return sum(file.stat().st_size for file in data.parent.glob(data.name + "*") if file.is_file())


@pytest.mark.slow
def test_an_upload_survives_kill_9_and_restart_without_growing_the_store_file(tmp_path: Path) -> None:
    data, payload = tmp_path / "db.json", hostile_binary()
    fixtures = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "opendatasoft.json").read_text())
    headers = {"Authorization": f"apikey {fixtures['credentials'][0]['credential']}"}
    path = f"/api/automation/v1.0/datasets/{WITH_FILES}/resources/files/"
    with served("--api", "opendatasoft", "--data", str(data)) as server:
        before = _store_size(data)
        uploaded = httpx.post(server.origin + path, files={"file": ("counts.bin", payload)}, headers=headers)
        assert uploaded.status_code == 200, uploaded.text
        grown = _store_size(data) - before
    assert grown < 10_000  # served() ends with kill -9; the bytes live beside the store, not in it
    with served("--api", "opendatasoft", "--data", str(data)) as server:
        downloaded = httpx.get(f"{server.origin}{path}counts.bin/download/", headers=headers)
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(payload).hexdigest()

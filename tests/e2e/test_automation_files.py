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
from tests.e2e.test_automation_lifecycle import Portal

TWINS = ("opendatasoft", "huwise")
FROMAGES = "nom;région;lait\nComté;Jura;vache\nRoquefort;Occitanie;brebis\nCrottin de Chavignol;Centre;chèvre\n"
WITH_FILES = "da_q7fmxr"  # the fixtures' published dataset with files (resources.yaml's examples)


class Files(Portal):
    """A portal, with multipart requests (`files`: a part per name), deletes, and redirects left unfollowed."""

    def post(self, path: str, body: Any = None, files: Any = None, data: Any = None) -> Any:
        if files is None:
            return super().post(path, body)
        return self.client.post(self.base + path, files=files, data=data, headers=self.headers)

    def get(self, path: str, follow_redirects: bool = True) -> Any:
        return self.client.get(self.base + path, headers=self.headers, follow_redirects=follow_redirects)

    def delete(self, path: str) -> Any:
        return self.client.delete(self.base + path, headers=self.headers)

    def upload_csv(self, uid: str, name: str = "fromages.csv", text: str = FROMAGES) -> None:
        uploaded = self.post(f"/datasets/{uid}/resources/files/", files=part(name, text.encode()))
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


def part(name: str, data: bytes, media_type: str = "text/csv") -> dict[str, tuple[str, bytes, str]]:
    """A multipart body's file part."""
    return {"file": (name, data, media_type)}


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
    uploaded = portal.post(
        f"/datasets/{uid}/resources/files/", files=part("counts.bin", data, "application/octet-stream")
    )
    assert uploaded.status_code == 200 and uploaded.json()["uid"] == "counts.bin"
    downloaded = portal.get(f"/datasets/{uid}/resources/files/counts.bin/download/")
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert downloaded.headers["content-disposition"] == 'attachment; filename="counts.bin"'
    assert downloaded.headers["content-type"] == "application/octet-stream"


def test_uploading_a_name_again_replaces_its_content_and_keeps_its_uid(portal: Files) -> None:
    uid = portal.new_dataset()
    first = portal.post(f"/datasets/{uid}/resources/files/", files=part("fromages.csv", b"a;b\n1;2\n")).json()
    portal.clock.advance(60)
    again = portal.post(
        f"/datasets/{uid}/resources/files/", files=part("fromages.csv", FROMAGES.encode(), "text/plain")
    )
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
    resource = portal.new_resource(other)
    renamed = portal.put(f"/datasets/{other}/resources/{resource}/", {**body, "title": "Cheeses of France"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Cheeses of France"
    absent = {**body, "datasource": {"type": "uploaded_file", "file": {"uid": "absent.csv"}}}
    assert portal.put(f"/datasets/{other}/resources/{resource}/", absent).status_code == 400


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
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
    portal.post(f"/datasets/{uid}/resources/files/", files=part("photo.csv", png, "image/png"))
    resource = portal.new_resource(uid, "photo.csv")
    refused = portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors_params/")
    assert refused.status_code == 400
    assert refused.json() == {"error_code": "bad_request", "message": "The file is binary, not CSV text"}
    assert portal.get(f"/datasets/{uid}/resources/{resource}/guess_extractors/").json() == []


def test_recovering_realtime_data_needs_a_published_dataset(portal: Files) -> None:
    uid = portal.new_dataset()
    portal.upload_csv(uid)
    resource = portal.new_resource(uid)
    message = "Invalid precondition, the dataset is not published"
    for refused in (
        portal.post(f"/datasets/{uid}/resources/{resource}/recover/"),
        portal.post(f"/datasets/{uid}/resources/{resource}/delete_recover_data/"),
    ):
        assert refused.status_code == 400
        assert refused.json() == {"error_code": "invalid_dataset_status", "message": message}
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(10)
    shown = portal.get(f"/datasets/{uid}/resources/{resource}/").json()
    for answer in (  # the realtime actions answer the resource as it is (resources.yaml's header)
        portal.post(f"/datasets/{uid}/resources/{resource}/recover/"),
        portal.post(f"/datasets/{uid}/resources/{resource}/delete_recover_data/"),
        portal.post(f"/datasets/{uid}/resources/{resource}/enable/"),
        portal.post(f"/datasets/{uid}/resources/{resource}/disable/"),
        portal.post(f"/datasets/{uid}/resources/{resource}/renew_api_key/"),
    ):
        assert (answer.status_code, answer.json()) == (200, shown)
    assert portal.post(f"/datasets/{uid}/resources/re_absent/recover/").status_code == 404


def test_cleaning_a_resource_cache_answers_204_with_no_body(portal: Files) -> None:
    cleaned = portal.post(f"/datasets/{WITH_FILES}/resources/re_qf2hyt/clean_cache/")
    assert (cleaned.status_code, cleaned.content) == (204, b"")
    assert portal.post(f"/datasets/{WITH_FILES}/resources/re_absent/clean_cache/").status_code == 404


def test_a_url_alternative_export_downloads_as_a_303_to_its_url(portal: Files) -> None:
    redirected = portal.get("/datasets/da_kxbtjj/alternative_exports/ae_t5v0zj/download/", follow_redirects=False)
    assert redirected.status_code == 303 and redirected.content == b""
    assert redirected.headers["location"] == "https://data.example.org/bicycle-counts-history.zip"


def test_an_uploaded_alternative_export_downloads_its_file_and_keeps_its_type(portal: Files) -> None:
    fields = {"title": "Markets", "type": "uploaded_file", "description": "As GeoPackage"}
    gpkg = part("markets.gpkg", b"SQLite format 3\0", "application/geopackage+sqlite3")
    created = portal.post(f"/datasets/{WITH_FILES}/alternative_exports/", files=gpkg, data=fields)
    assert created.status_code == 201, created.text
    export = created.json()
    assert (export["type"], export["filename"], export["title"]) == ("uploaded_file", "markets.gpkg", "Markets")
    assert portal.get(f"/datasets/{WITH_FILES}/alternative_exports/{export['uid']}/").json() == export
    listed = portal.get(f"/datasets/{WITH_FILES}/alternative_exports/").json()["results"]
    assert [e["type"] for e in listed] == ["uploaded_file", "url", "uploaded_file"]
    download = portal.get(f"/datasets/{WITH_FILES}/alternative_exports/{export['uid']}/download/")
    assert download.content == b"SQLite format 3\0"
    path = f"/datasets/{WITH_FILES}/alternative_exports/{export['uid']}/"
    renamed = portal.put(path, {"title": "Markets (GeoPackage)", "type": "uploaded_file"})
    assert renamed.status_code == 200 and renamed.json()["filename"] == "markets.gpkg"
    refused = portal.put(path, {"title": "Markets", "type": "url"})
    assert refused.status_code == 400 and list(refused.json()["detail"]) == ["type"]
    assert portal.delete(path).status_code == 204 and portal.get(path).status_code == 404


def test_an_attachment_is_uploaded_downloaded_and_deleted(portal: Files) -> None:
    pdf = part("méthode.pdf", b"%PDF-1.7\r\n%\xe2\xe3", "application/pdf")
    created = portal.post(f"/datasets/{WITH_FILES}/attachments/", files=pdf)
    assert created.status_code == 201 and created.json()["uid"].startswith("at_")
    path = f"/datasets/{WITH_FILES}/attachments/{created.json()['uid']}/"
    assert portal.get(path).json() == created.json() and created.json()["mimetype"] == "application/pdf"
    assert created.json() in portal.get(f"/datasets/{WITH_FILES}/attachments/").json()["results"]
    download = portal.get(f"/datasets/{WITH_FILES}/attachments/{created.json()['uid']}/download/")
    assert download.content == b"%PDF-1.7\r\n%\xe2\xe3"
    assert (
        download.headers["content-disposition"]
        == "attachment; filename=\"m?thode.pdf\"; filename*=UTF-8''m%C3%A9thode.pdf"
    )
    assert portal.delete(path).status_code == 204
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
    assert portal.delete(f"/datasets/{uid}/resources/{resource}/").status_code == 204
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
    big = part("big.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")
    too_large = portal.post(f"/datasets/{uid}/resources/files/", files=big)
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

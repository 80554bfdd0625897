"""Reading an uploaded file as Opendatasoft does (extractor and parameter guesses, the preview) and publishing it
through a processor stack and a fields configuration -- with errors that say what is wrong, never a crash."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from apitwin.behaviours import ods_processing
from apitwin.behaviours.ods_processing import (
    BudgetError,
    ConfigurationError,
    ProcessingError,
    SourceError,
    guess_extractors,
    guess_params,
    normalise_field_name,
    preview,
    process,
    record_id,
)

LATIN1_CSV = "Nom du fromage;Région;Prix (€/kg);Créé le\nComté;Jura;18.5;2024-01-02\nBrie;Île-de-France;12;2024-02-03\n"
LATIN1_BYTES = LATIN1_CSV.replace("€", "EUR").encode("iso-8859-1")
TSV = b"id\tcity\tpopulation\r\n1\tParis\t2100000\r\n2\tLyon\t520000\r\n"
QUOTED = b'name,comment,year\r\n"Smith, John","said ""hi""\r\nthen left",2021\r\nDoe,plain,2022\r\n'
JSON_ARRAY = b'[{"Year": "2022", "State Name": "Missouri", "count": 3}, {"Year": "2021", "State Name": "Ohio"}]'
JSON_NESTED = b'{"filename": "trains.json", "content": {"trains": [{"id": 123, "info": {"name": "Agra Express"}}]}}'
CITIES = b"city,district,phone,status\nParis,Arr. 1,01 23 45,N/A\nLyon,Arr. 2,(04) 56,open\nNice,centre,n/a,N/A\n"


def fields_of(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in answer["fields"]}


def source_error(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(SourceError) as caught:
        preview(*args, **kwargs)
    return caught.value.message


# -- guessing the extractor ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "mimetype", "extractors"),
    [
        (LATIN1_BYTES, "fromages.csv", "text/csv", ["csvfile"]),
        (TSV, "cities.tsv", "", ["csvfile"]),
        (QUOTED, "people", "application/octet-stream", ["csvfile"]),  # the content decides, not the name
        (JSON_ARRAY, "states.json", "application/json", ["jsonfile"]),
        (JSON_NESTED, "trains", "", ["jsonfile"]),  # an object holding an array of objects
        (b'{"items": []}', "x.json", "", []),  # no record to find
        (b"[1, 2, 3]", "numbers.json", "", []),  # an array, but not of objects
        (b'{"a": 1}\n{"a": 2}\n', "lines.json", "", []),  # JSON Lines: a connector the twin does not serve
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.csv", "text/csv", []),  # binary, whatever its name
        (b"\x01\x02\x03,\x04\x05\x06\n" * 10, "codes.csv", "text/csv", []),  # control characters, no NUL
        (b"", "empty.csv", "text/csv", []),
        (b"\xef\xbb\xbf \r\n", "blank.csv", "text/csv", []),
        (b"one column\nof text\n", "notes.txt", "", ["csvfile"]),  # one column: the name says CSV
        (b"one column\nof text\n", "notes", "", []),
    ],
)
def test_guess_extractors_sniffs_the_content_first(
    data: bytes, filename: str, mimetype: str, extractors: list[str]
) -> None:
    assert guess_extractors(data, filename, mimetype) == extractors


def test_a_file_beyond_the_budget_is_guessed_by_its_name_alone() -> None:
    assert guess_extractors(JSON_ARRAY, "states.json", "", max_bytes=10) == ["jsonfile"]
    assert guess_extractors(JSON_ARRAY, "states", "", max_bytes=10) == []


# -- guessing the parameters -----------------------------------------------------------------------------------


def test_a_semicolon_latin1_csv_gets_its_separator_encoding_and_headers() -> None:
    assert guess_params("csvfile", LATIN1_BYTES) == {
        "doublequote": True,
        "encoding": "iso-8859-1",
        "first_row_no": 1,
        "headers_first_row": True,
        "separator": ";",
    }


@pytest.mark.parametrize(
    ("data", "separator"),
    [
        (TSV, "\t"),
        (QUOTED, ","),  # the separators inside quotes do not count
        (b"a|b|c\n1|2|3\n", "|"),
        (b"nom;prix\nx;1,5\ny;2,25\n", ";"),  # decimal commas do not make a comma-separated file
        (b"a;b,c\n1;2,3\n", ","),  # a tie: the earlier of , ; tab |
    ],
)
def test_the_separator_is_the_one_giving_constant_columns(data: bytes, separator: str) -> None:
    assert guess_params("csvfile", data)["separator"] == separator


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("a,b\né,ü\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfa,b\n1,2\n", "utf-8"),  # the BOM is read, not reported
        ("a,b\n€,é\n".encode("windows-1252"), "windows-1252"),  # 0x80: a character in windows-1252 only
        ("a,b\né,ü\n".encode("iso-8859-1"), "iso-8859-1"),
        ("a,b\né,ü\n".encode("utf-16"), "utf-16"),
    ],
)
def test_the_encoding_is_guessed_from_the_bytes(data: bytes, encoding: str) -> None:
    assert guess_params("csvfile", data)["encoding"] == encoding


def test_a_first_row_of_data_is_not_taken_for_headers() -> None:
    assert guess_params("csvfile", b"1,2.5,2024-01-01\n2,3.5,2024-01-02\n")["headers_first_row"] is False
    assert guess_params("csvfile", b"id,price\n1,2.5\n")["headers_first_row"] is True


def test_jsonfile_params_name_the_path_to_the_records() -> None:
    assert guess_params("jsonfile", JSON_ARRAY) == {}
    assert guess_params("jsonfile", JSON_NESTED) == {"json_root": "content.trains"}
    assert guess_params("jsonfile", b'{"items": [{"a": 1}], "other": [{"b": 2}]}') == {"json_root": "items"}


@pytest.mark.parametrize(
    ("extractor", "data", "error"),
    [
        ("jsonfile", b'[{"a": 1},', SourceError),
        ("jsonfile", b'{"a": 1}', SourceError),
        ("csvfile", b"", SourceError),
        ("csvfile", b"\x00\x01\x02\x03" * 10, SourceError),
        ("xlsfile", b"a,b\n", ConfigurationError),
    ],
)
def test_guess_params_refuses_what_the_extractor_cannot_read(extractor: str, data: bytes, error: type) -> None:
    with pytest.raises(error):
        guess_params(extractor, data)


# -- the preview -----------------------------------------------------------------------------------------------


def test_the_preview_names_fields_as_the_platform_and_keeps_the_header_as_label() -> None:
    answer = preview("csvfile", guess_params("csvfile", LATIN1_BYTES), LATIN1_BYTES)
    assert [(f["name"], f["label"]) for f in answer["fields"]] == [
        ("nom_du_fromage", "Nom du fromage"),
        ("region", "Région"),
        ("prix_eur_kg", "Prix (EUR/kg)"),
        ("cree_le", "Créé le"),
    ]
    assert answer["records"][0] == {
        "nom_du_fromage": "Comté",
        "region": "Jura",
        "prix_eur_kg": "18.5",
        "cree_le": "2024-01-02",
    }


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("Code INSEE", "code_insee"),
        ("  N° de voie ", "n_de_voie"),
        ("Straße", "strasse"),
        ("___", ""),
        ("2019", "2019"),
    ],
)
def test_normalise_field_name(label: str, name: str) -> None:
    assert normalise_field_name(label) == name


def test_empty_and_repeated_headers_get_unique_names() -> None:
    answer = preview("csvfile", {"separator": ","}, b"a,A,,a!\n1,2,3,4\n")
    assert [f["name"] for f in answer["fields"]] == ["a", "a_2", "column_3", "a_3"]


def test_quoted_separators_newlines_and_crlf_stay_inside_their_value() -> None:
    answer = preview("csvfile", {}, QUOTED)
    assert answer["records"] == [
        {"name": "Smith, John", "comment": 'said "hi"\r\nthen left', "year": "2021"},
        {"name": "Doe", "comment": "plain", "year": "2022"},
    ]


def test_a_tab_separated_file_reads_with_its_guessed_params() -> None:
    answer = preview("csvfile", {}, TSV)
    assert answer["records"][1] == {"id": "2", "city": "Lyon", "population": "520000"}
    assert [f["type"] for f in answer["fields"]] == ["int", "text", "int"]


def test_the_bom_never_reaches_a_label() -> None:
    answer = preview("csvfile", {"encoding": "utf-8"}, b"\xef\xbb\xbfid,name\n1,x\n")
    assert answer["fields"][0]["label"] == "id"


def test_without_headers_fields_are_numbered_and_labels_empty() -> None:
    answer = preview("csvfile", {"headers_first_row": False}, b"1,x\n2,y\n")
    assert [(f["name"], f["label"]) for f in answer["fields"]] == [("column_1", ""), ("column_2", "")]
    assert len(answer["records"]) == 2


def test_first_row_no_skips_physical_lines_before_the_header() -> None:
    data = b'Exported by "tool\nOn 2024-01-01\nid,name\n1,x\n'
    assert preview("csvfile", {"first_row_no": 3}, data)["records"] == [{"id": "1", "name": "x"}]


def test_the_preview_holds_at_most_limit_records() -> None:
    data = b"n\n" + b"".join(b"%d\n" % i for i in range(100))
    assert len(preview("csvfile", {}, data)["records"]) == 20
    assert len(preview("csvfile", {}, data, limit=3)["records"]) == 3


@pytest.mark.parametrize(
    ("values", "field_type"),
    [
        (["1", "-20", "0"], "int"),
        (["1", "2.5", "1e3"], "double"),
        (["007", "12"], "text"),  # a leading zero is a code, not a number
        (["1,5", "2"], "text"),  # decimal commas are not read as numbers
        (["2024-01-02", "2024-12-31"], "date"),
        (["2024-01-02T10:00:00Z", "2024-01-02 10:00"], "datetime"),
        (["2024-01-02", "2024-01-02T10:00:00+02:00"], "datetime"),
        (["2024-13-45"], "text"),
        (["", "  "], "text"),
        (["12", "", "3"], "int"),  # empty values do not count
    ],
)
def test_each_field_gets_the_narrowest_type_its_values_share(values: list[str], field_type: str) -> None:
    data = ("v\n" + "".join(f'"{value}"\n' for value in values)).encode()
    assert preview("csvfile", {"separator": ",", "headers_first_row": True}, data)["fields"][0]["type"] == field_type


def test_years_alone_are_a_date_with_a_yearly_precision_as_in_the_contract() -> None:
    answer = preview("jsonfile", {}, JSON_ARRAY)
    assert fields_of(answer)["year"] == {
        "name": "year",
        "label": "Year",
        "type": "date",
        "annotations": [{"name": "timeserie_precision", "args": ["year"]}],
    }
    assert answer["records"][0] == {"year": "2022", "state_name": "Missouri", "count": 3}
    assert preview("jsonfile", {}, b'[{"n": 2000}, {"n": 2001}]')["fields"][0]["type"] == "int"  # numbers, not text


def test_without_json_root_an_object_s_items_are_the_records() -> None:
    assert preview("jsonfile", {}, b'{"total": 1, "items": [{"a": 1}]}')["records"] == [{"a": 1}]


def test_json_root_and_json_object_select_the_records() -> None:
    answer = preview("jsonfile", {"json_root": "content.trains", "json_object": "info"}, JSON_NESTED)
    assert answer["records"] == [{"name": "Agra Express"}]
    answer = preview("jsonfile", {"json_root": "content.trains.item"}, JSON_NESTED)  # ijson's spelling
    assert answer["records"] == [{"id": 123, "info": {"name": "Agra Express"}}]


def test_arrays_of_strings_become_multivalued_and_objects_stay_as_they_are() -> None:
    data = b'[{"tags": ["a", "b"], "where": {"x": 1}, "ok": true}]'
    answer = preview("jsonfile", {}, data)
    assert answer["records"] == [{"tags": "a;b", "where": {"x": 1}, "ok": True}]
    assert fields_of(answer)["tags"]["annotations"] == [{"name": "multivalued", "args": [";"]}]


def test_extract_filename_adds_a_field() -> None:
    answer = preview("csvfile", {"extract_filename": True}, b"a,b\n1,2\n", filename="f.csv")
    assert answer["fields"][-1]["name"] == "filename"
    assert answer["records"] == [{"a": "1", "b": "2", "filename": "f.csv"}]


@pytest.mark.parametrize(
    ("extractor", "params", "data", "words"),
    [
        ("csvfile", {}, b"", "empty"),
        ("csvfile", {"separator": ","}, b"a,b,c\n1,2,3\n4,5\n", "Line 3 holds 2 values where the header holds 3"),
        ("csvfile", {"separator": ","}, b'a,b\n1,"open\n2,3\n', "Line 3 is not valid CSV: unexpected end of data"),
        ("csvfile", {"separator": ",", "encoding": "utf-8"}, "a,b\né,1\n".encode("latin-1"), "not utf-8 text"),
        ("csvfile", {"separator": ",", "encoding": "utf-8", "headers_first_row": True}, b"a,b\n\x00,1\n", "NUL"),
        ("jsonfile", {}, b'[{"a": 1}, {"a": ]', "not valid JSON: Expecting value at line 1, column 18"),
        ("jsonfile", {}, b'[{"a": NaN}]', "not valid JSON: NaN is not a JSON number"),
        ("jsonfile", {}, b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        ("jsonfile", {}, b'[{"a": 1}, 2]', "Record 2 is a JSON number, not an object"),
        ("jsonfile", {"json_root": "content.planes"}, JSON_NESTED, "content.planes is missing"),
        ("jsonfile", {}, b'{"a": [{"b": 1}]}', "object without items"),
    ],
)
def test_bad_input_is_a_source_error_with_a_message(
    extractor: str, params: dict[str, Any], data: bytes, words: str
) -> None:
    assert words in source_error(extractor, params, data)


@pytest.mark.parametrize(
    "params",
    [{"separator": ";;"}, {"encoding": "klingon"}, {"first_row_no": 0}, {"headers_first_row": "maybe"}],
)
def test_bad_params_are_a_configuration_error(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        preview("csvfile", {"separator": ",", "encoding": "utf-8", "headers_first_row": True, **params}, b"a,b\n1,2\n")


def test_the_byte_and_row_budgets_stop_the_work() -> None:
    data = b"n\n" + b"1\n" * 1000
    with pytest.raises(BudgetError):
        preview("csvfile", {}, data, max_bytes=100)
    with pytest.raises(BudgetError):
        process("csvfile", {}, data, [], [], None, max_rows=999)
    assert process("csvfile", {}, data, [], [], None, max_rows=1000).record_count == 1000


def test_many_fields_of_one_name_cost_linear_time() -> None:
    header = ",".join(["x"] * 20_000).encode()
    started = time.perf_counter()
    answer = preview("csvfile", {"separator": ","}, header + b"\n" + header + b"\n")
    assert answer["fields"][-1]["name"] == "x_20000"
    assert time.perf_counter() - started < 2


# -- processing ------------------------------------------------------------------------------------------------


def replace(field: str, old: str, new: str, uid: str = "pr_rep") -> dict[str, Any]:
    return {"uid": uid, "type": "string_replace", "label": "replace", "field": field, "old": old, "new": new}


def regexp(field: str, pattern: str, new: str, uid: str = "pr_reg") -> dict[str, Any]:
    return {"uid": uid, "type": "regexp_replace", "label": "regexp", "field": field, "regexp": pattern, "new": new}


def test_processors_apply_in_order() -> None:
    first_replace = [replace("status", "N/A", "Not available"), regexp("status", "^[A-Z]", "x")]
    first_regexp = [regexp("status", "^[A-Z]", "x"), replace("status", "N/A", "Not available")]
    assert [r["status"] for r in process("csvfile", {}, CITIES, first_replace, [], None).records] == [
        "xot available",
        "open",
        "xot available",
    ]
    assert [r["status"] for r in process("csvfile", {}, CITIES, first_regexp, [], None).records] == [
        "x/A",
        "open",
        "x/A",
    ]


def test_regexp_replace_uses_groups() -> None:
    result = process("csvfile", {}, CITIES, [regexp("phone", r"\((\d+)\) (\d+)", r"\1-\2")], [], None)
    assert result.records[1]["phone"] == "04-56"


@pytest.mark.parametrize(
    ("processor", "message"),
    [
        (
            replace("nowhere", "a", "b", uid="pr_x"),
            "Processor pr_x is misconfigured for field nowhere: the dataset has no such field",
        ),
        (
            regexp("phone", "([0-9", "", uid="pr_y"),
            "Processor pr_y is misconfigured for field phone: invalid regular expression",
        ),
        (
            regexp("phone", "[0-9]", r"\2", uid="pr_z"),
            "Processor pr_z is misconfigured for field phone: invalid regular expression",
        ),
        (replace("status", "", "b", uid="pr_w"), "the text to replace is empty"),
        (
            {"type": "geocode", "label": "g", "field": "city"},
            "Processor number 1 is misconfigured for field city: the twin runs no processor of type 'geocode'",
        ),
    ],
)
def test_a_misconfigured_processor_fails_the_processing_with_the_platform_message(
    processor: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        process("csvfile", {}, CITIES, [processor], [], None)
    assert message in caught.value.message
    assert caught.value.raw_message.startswith("Processor {processor_id} is misconfigured")


def test_a_processor_meeting_a_json_object_is_a_records_error() -> None:
    data = b'[{"id": 1, "where": {"x": "a"}}, {"id": 2, "where": "a b"}]'
    result = process("jsonfile", {}, data, [replace("where", "a", "b", uid="pr_obj")], [], None)
    assert result.records[1]["where"] == "b b"
    assert result.records_errors == [
        {
            "record_id": record_id(result.records[0]),
            "field_uid": "where",
            "processor_uid": "pr_obj",
            "message": "Cannot apply string_replace to a JSON object",
        }
    ]


def test_processors_read_numbers_as_text_and_types_are_guessed_after_them() -> None:
    result = process("jsonfile", {}, b'[{"n": 15}, {"n": 22}]', [replace("n", "2", "3")], [], None)
    assert [r["n"] for r in result.records] == [15, 33]
    assert result.fields[0]["type"] == "int"


def configuration(kind: str, uid: str = "", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "label": kind, **({"uid": uid} if uid else {}), **fields}


def test_field_configurations_apply_in_order_each_on_the_names_left_by_the_previous() -> None:
    configurations = [
        configuration("rename", from_name="district", to_name="arrondissement", field_label="Arrondissement"),
        configuration("description", field="arrondissement", description="Where"),
        configuration("annotate", field="arrondissement", annotation="facet", args=[]),
        configuration("annotate", field="arrondissement", annotation="unit", args=["km"]),
        configuration("annotate", field="arrondissement", annotation="unit", args=["km2", 3]),  # replaces it
        configuration("delete", field="phone"),
        configuration("order", args=["status", "arrondissement"]),
    ]
    result = process("csvfile", {}, CITIES, [], configurations, None)
    assert result.fields == [
        {"name": "status", "label": "status", "type": "text", "annotations": []},
        {
            "name": "arrondissement",
            "label": "Arrondissement",
            "type": "text",
            "annotations": [{"name": "facet", "args": []}, {"name": "unit", "args": ["km2", "3"]}],
            "description": "Where",
            "original_name": "district",
        },
        {"name": "city", "label": "city", "type": "text", "annotations": []},
    ]
    assert result.records[0] == {"status": "N/A", "arrondissement": "Arr. 1", "city": "Paris"}


@pytest.mark.parametrize(
    ("configurations", "words"),
    [
        (
            [configuration("delete", field="city"), configuration("description", field="city", description="d")],
            "no such field",
        ),
        ([configuration("rename", from_name="city", to_name="status", field_label="S")], "a field named status exists"),
        ([configuration("rename", from_name="city", to_name="City!", field_label="C")], "lowercase letters"),
        ([configuration("type", field="city", type_param="boolean")], "unknown type 'boolean'"),
        ([configuration("order", args=["city", "nowhere"])], "no field named nowhere"),
        ([configuration("sort", field="city")], "unknown field configuration type 'sort'"),
    ],
)
def test_a_misconfigured_field_configuration_fails_the_processing(
    configurations: list[dict[str, Any]], words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        process("csvfile", {}, CITIES, [], configurations, None)
    assert words in caught.value.message


def test_values_are_converted_to_their_type_and_a_value_that_cannot_be_is_a_records_error() -> None:
    data = b"id,when,price,at\n1,2024-01-02,2.5,2024-01-02T10:00:00\nx,2023,3,2024-01-02\n3,,,\n"
    typing = configuration("type", uid="pr_typ", field="id", type_param="int")
    result = process("csvfile", {"separator": ","}, data, [], [typing], None)
    assert result.records == [
        {"id": 1, "when": "2024-01-02", "price": 2.5, "at": "2024-01-02T10:00:00+00:00"},
        {"id": None, "when": "2023-01-01", "price": 3.0, "at": "2024-01-02T00:00:00+00:00"},
        {"id": 3, "when": None, "price": None, "at": None},
    ]
    [error] = result.records_errors
    assert error == {
        "record_id": hashlib.sha1(json.dumps(result.records[1], sort_keys=True).encode()).hexdigest(),
        "field_uid": "id",
        "processor_uid": "pr_typ",
        "message": 'Cannot convert "x" to "int"',
    }
    assert result.records_errors_count == 1


@pytest.mark.parametrize(
    ("field_type", "value", "converted"),
    [
        ("double", "1e3", 1000.0),
        ("double", "inf", None),
        ("double", "1e999", None),
        ("double", "1_000", None),
        ("int", "9223372036854775808", None),
        ("geo_point_2d", "48.85, 2.35", {"lon": 2.35, "lat": 48.85}),
        ("geo_point_2d", "95, 2", None),
        (
            "geo_shape",
            '{"type": "Point", "coordinates": [2.35, 48.85]}',
            {"type": "Point", "coordinates": [2.35, 48.85]},
        ),
        ("datetime", "2024-01-02T10:00:00+02:00", "2024-01-02T10:00:00+02:00"),
        ("date", "2024-02-30", None),
        ("file", "photo.jpg", "photo.jpg"),
    ],
)
def test_type_conversions(field_type: str, value: str, converted: Any) -> None:
    data = b'v\n"' + value.replace('"', '""').encode() + b'"\n'
    typing = configuration("type", field="v", type_param=field_type)
    result = process("csvfile", {"separator": ",", "headers_first_row": True}, data, [], [typing], None)
    assert result.records == [{"v": converted}]
    assert result.records_errors_count == (0 if converted is not None else 1)


def test_retyping_a_year_drops_the_guessed_precision() -> None:
    typing = configuration("type", field="year", type_param="int")
    [year] = [f for f in process("jsonfile", {}, JSON_ARRAY, [], [typing], None).fields if f["name"] == "year"]
    assert year == {"name": "year", "label": "Year", "type": "int", "annotations": []}


def test_records_errors_are_all_counted_but_listed_up_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ods_processing, "MAX_RECORDS_ERRORS", 3)
    data = b"n,m\n" + b"x,y\n" * 10
    typing = [configuration("type", field=name, type_param="int") for name in ("n", "m")]
    result = process("csvfile", {"separator": ",", "headers_first_row": True}, data, [], typing, None)
    assert (len(result.records_errors), result.records_errors_count) == (3, 20)


def test_the_record_limit_keeps_the_first_records_and_reaches_limit_reached() -> None:
    result = process("csvfile", {}, CITIES, [], [], 2)
    assert [r["city"] for r in result.records] == ["Paris", "Lyon"]
    assert (result.record_count, result.limit_reached, result.status) == (2, True, "limit_reached")
    assert result.params == {"error": {"limit_type": "records", "limit": 2, "value": 3}}


@pytest.mark.parametrize("record_limit", [None, 3])
def test_within_the_limit_the_processing_ends_idle(record_limit: int | None) -> None:
    result = process("csvfile", {}, CITIES, [], [], record_limit)
    assert (result.record_count, result.status, result.params) == (3, "idle", {})


def test_every_error_is_a_processing_error_with_its_template() -> None:
    with pytest.raises(ProcessingError) as caught:
        process("csvfile", {"separator": ","}, b"a,b\n1\n", [], [], None)
    assert caught.value.raw_message.format(**caught.value.raw_params) == caught.value.message

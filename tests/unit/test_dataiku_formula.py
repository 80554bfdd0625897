"""The DSS formula language the Dataiku twin filters rows with: grammar, precedence, typed comparisons,
functions, and errors that name the problem and its position -- in linear time, whatever the input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from apitwin.behaviours.dataiku_formula import MAX_DEPTH, FormulaError, compile_formula

COLUMNS = ["id", "country", "amount", "code", "day", "active", "note", "unit price"]
ROWS: list[list[Any]] = [
    [1, "FR", 450.0, "10", "2025-09-01T06:00:00.000Z", "true", "", 2.5],
    [2, "FR", 120.5, "9", "2025-09-02T10:00:00.000Z", "false", None, 4],
    [3, "DE", 610, "010", "2025-09-03T12:00:00.000Z", "TRUE", "  spaced  ", "3"],
    [4, "US", 99, "abc", "2025-09-03T20:00:00.000Z", "false", 'O\'Brien "Bob"', None],
]


def kept(formula: str) -> list[int]:
    keep = compile_formula(formula, COLUMNS)
    return [row[0] for row in ROWS if keep(row)]


def error_of(formula: str) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        compile_formula(formula, COLUMNS)
    return caught.value


@pytest.mark.parametrize(
    ("formula", "ids"),
    [
        ("amount > 400 || country == 'FR'", [1, 2, 3]),  # issue 8: the tail was compared as text
        ("amount > 400 or country == 'FR'", [1, 2, 3]),
        ("amount > 400 and country == 'FR'", [1]),
        ("amount > 400 && country == 'FR'", [1]),
        ("country == 'FR' || country == 'DE' && amount < 100", [1, 2]),  # && binds tighter than ||
        ("(country == 'FR' || country == 'DE') && amount > 200", [1, 3]),
        ("!(country == 'FR')", [3, 4]),
        ("not (country == 'FR')", [3, 4]),
        ("!!(country == 'FR')", [1, 2]),
        ("not(country == 'FR') && !(amount < 100)", [3]),
        ("true", [1, 2, 3, 4]),
        ("false || id == 4", [4]),
        ("and(amount > 100, country == 'FR')", [1, 2]),
        ("or(id == 1, id == 4, id == 3)", [1, 3, 4]),
        ("if(country == 'FR', amount > 400, amount < 100)", [1, 4]),
    ],
)
def test_boolean_operators_keep_the_right_rows(formula: str, ids: list[int]) -> None:
    assert kept(formula) == ids


@pytest.mark.parametrize(
    ("formula", "ids"),
    [
        ("amount == 450", [1]),
        ("amount = 450", [1]),
        ("amount != 450", [2, 3, 4]),
        ("amount <> 450", [2, 3, 4]),
        ("amount < 120.5", [4]),
        ("amount <= 120.5", [2, 4]),
        ("amount > 450", [3]),
        ("amount >= 450", [1, 3]),
        ("amount >= 1e2 && amount < .5e3", [1, 2]),
        ("amount > -1", [1, 2, 3, 4]),
    ],
)
def test_every_comparison_operator(formula: str, ids: list[int]) -> None:
    assert kept(formula) == ids


def test_numbers_compare_numerically_and_text_as_text() -> None:
    assert kept("code > 9") == [1, 4]  # "10" reads as 10; "010" (not a standard integer) and "abc" compare as text
    assert kept("code == '10'") == [1]  # a numeric literal in quotes still compares as a number with a number
    assert kept("code == '010'") == [3]
    assert kept("code > 'a'") == [4]  # text against text, by code point
    assert kept("day >= '2025-09-03'") == [3, 4]  # ISO dates order as text
    assert kept("amount == '450.0'") == [1]


def test_empty_cells_are_null_equal_only_to_null_and_never_ordered() -> None:
    assert kept("note == ''") == [1, 2]
    assert kept("note != ''") == [3, 4]
    assert kept("`unit price`" if False else 'numval("unit price") > 0') == [1, 2, 3]
    assert kept('val("unit price") < 100') == [1, 2, 3]  # null is not below 100
    assert kept('!(val("unit price") < 100)') == [4]


def test_booleans_stored_as_text_compare_with_boolean_literals() -> None:
    assert kept("active == true") == [1, 3]
    assert kept("active != true") == [2, 4]
    assert kept("active == 'true'") == [1]  # text against text: case matters
    assert kept("active") == [1, 3]  # a column alone keeps the rows whose value reads as true
    assert kept("isBlank(note) == true") == [1, 2]


@pytest.mark.parametrize(
    ("formula", "ids"),
    [
        ('country == "FR"', [1, 2]),
        ("note == 'O\\'Brien \"Bob\"'", [4]),
        ('note == "O\'Brien \\"Bob\\""', [4]),
        ("country == '\\u0046R'", [1, 2]),
        ("contains(note, '\\\\') || country == 'D\\u0045'", [3]),
        ("country == 'F' + 'R'", [1, 2]),  # + concatenates text
        ("country + id == 'FR2'", [2]),
    ],
)
def test_string_literals_quotes_escapes_and_concatenation(formula: str, ids: list[int]) -> None:
    assert kept(formula) == ids


@pytest.mark.parametrize(
    ("formula", "ids"),
    [
        ('strval("unit price") == "2.5"', [1]),
        ('numval("unit price") >= 3', [2, 3]),
        ('val("unit price") == 4', [2]),
        ("isBlank(note)", [1, 2]),
        ("isNonBlank(note)", [3, 4]),
        ('isNull(val("unit price"))', [4]),
        ("isNotNull(note)", [3, 4]),
        ("isNumeric(code)", [1, 2]),
        ("startsWith(day, '2025-09-03')", [3, 4]),
        ("endsWith(country, 'R')", [1, 2]),
        ("contains(note, 'Brien')", [4]),
        ("toNumber(code) > 9", [1]),
        ("length(country) == 2 && length(note) > 2", [3, 4]),
        ("toLowercase(country) == 'fr'", [1, 2]),
        ("toUppercase(active) == 'TRUE'", [1, 3]),
        ("trim(note) == 'spaced'", [3]),
        ("toString(id) == '3'", [3]),
        ("amount * 2 > 1000 || amount / 0 == 1", [3]),  # dividing by zero is an empty value
        ("amount % 100 == 50", [1]),
        ("-amount < -500", [3]),
        ("amount - 20 * 3 + 1 > 390", [1, 3]),
    ],
)
def test_functions_and_arithmetic(formula: str, ids: list[int]) -> None:
    assert kept(formula) == ids


@pytest.mark.parametrize(
    ("formula", "reason", "position"),
    [
        ("nope > 1", "unknown column 'nope'", 0),
        ("amount > 1 && Country == 'FR'", "unknown column 'Country'", 14),
        ('val("no such") == 1', "unknown column 'no such'", 4),
        ("val(country) == 1", "a column name in quotes", 4),
        ("lower(country) == 'fr'", "unknown function lower()", 0),
        ("startsWith(country)", "startsWith() takes 2 argument(s), got 1", 0),
        ("amount >", "the formula ends where an operand is expected", 8),
        ("amount > 400 country == 'FR'", "unexpected 'country' after a complete expression", 13),
        ("amount > 400)", "unexpected ')'", 12),
        ("(amount > 400", "expected ')', found 'end of formula'", 13),
        ("amount > 400 & country == 'FR'", "unexpected character '&'", 13),
        ("amount > 400 | country == 'FR'", "unexpected character '|'", 13),
        ("country == 'FR", "unterminated string", 11),
        ("country == 'F\\qR'", "unknown escape \\q", 13),
        ("amount # 3", "unexpected character '#'", 7),
        ("1 < amount < 3", "comparisons do not chain", 11),
        ("(amount > 1) > 0", "orders numbers or text, not booleans", 13),
        ("!amount > 400", "orders numbers or text, not booleans", 8),  # ! binds tighter: say so, do not guess
        ("isBlank(note) == 1", "compares a boolean with a number", 14),
        ("amount", "", -1),  # a column alone is fine (read as a boolean per row)
        ("amount + 1", "a filter needs a boolean, not a number or text", 0),
        ("amount - 1", "a filter needs a boolean, not a number", 0),
        ("'FR'", "a filter needs a boolean, not text", 0),
        ("country == 'FR' && 'DE'", "&& needs a boolean, not text", 19),
        ("!3", "! (not) needs a boolean, not a number", 1),
        ("country - 1 > 0", "", -1),
        ("'a' - 1 > 0", "- cannot take text", 0),
        ("and > 1", "'and' needs an operand before it", 0),
        ("amount > 1 ||", "the formula ends where an operand is expected", 13),
    ],
)
def test_anything_else_is_an_error_naming_the_problem_and_position(formula: str, reason: str, position: int) -> None:
    if position < 0:
        compile_formula(formula, COLUMNS)  # in the language
        return
    error = error_of(formula)
    assert reason in error.reason and error.position == position, str(error)
    assert f"at position {position}" in str(error)


def test_unknown_names_say_what_is_known() -> None:
    assert "the dataset has id, country, amount" in str(error_of("nope > 1"))
    assert "known: and, contains, endsWith" in str(error_of("lower(country) == 'fr'"))


def test_nesting_is_bounded_and_reported_not_a_crash() -> None:
    inside = "(" * MAX_DEPTH + "id == 1" + ")" * MAX_DEPTH
    assert kept(inside) == [1]
    error = error_of("(" * (MAX_DEPTH + 1) + "id == 1" + ")" * (MAX_DEPTH + 1))
    assert "nested more than" in error.reason and error.position == MAX_DEPTH
    assert "nested more than" in error_of("!" * 5000 + "true").reason
    assert "nested more than" in error_of("-" * 5000 + "1 > 0").reason
    assert "nested more than" in error_of("isBlank(" * 5000 + "note" + ")" * 5000).reason


def test_long_chains_are_flat_so_they_evaluate_without_recursion() -> None:
    chain = " || ".join(f"id == {n}" for n in range(5, 3_000)) + " || id == 2"
    assert kept(chain) == [2]
    assert kept(" + ".join(["amount"] * 3_000) + " > 0") == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "formula",
    [
        "amount > 1" + " " * 30_000 + "!",  # issue 8: a quadratic regex spent seconds on this
        "amount > 'x" + " " * 30_000 + "'y",
        "amount >" + " " * 200_000 + "400",
        "country == '" + "a" * 200_000 + "'",
        "(" * 60 + "1" + " + 1" * 10_000 + ")" * 60 + " > 0",
    ],
)
def test_work_is_linear_in_the_formula_length(formula: str) -> None:
    # Quadratic work on these lengths would take minutes (30k spaces took 3 s); linear work, well under a second.
    started = time.perf_counter()
    try:
        compile_formula(formula, COLUMNS)(ROWS[0])
    except FormulaError:
        pass
    assert time.perf_counter() - started < 2

"""The DSS formula language, as far as the twin's data filters need it: comparisons, boolean and arithmetic
operators, literals, column references and the common test and string functions.

`compile_formula` tokenizes the text once, parses it by precedence climbing into a tree of closures, and
checks what can be checked before any row is read (columns, functions, arities, operand types). Work is
linear in the formula's length; nesting (parentheses, unary operators, calls) is bounded by `MAX_DEPTH`, and
chains of one operator (`a || b || c ...`) become one n-ary node, so neither parsing nor evaluation can run
out of stack. Anything outside the language is a `FormulaError` naming the problem and its 0-based position.

Values follow DSS's autotyping: a cell reads as a number when its text is a standard integer or decimal,
as null when empty, and as text otherwise (booleans stay text, as DSS leaves them, and convert when a
boolean is needed: `"true"`/`"false"`, any case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

MAX_DEPTH = 64
Row = Sequence[Any]
Value = None | bool | int | float | str
Kind = Literal["boolean", "number", "string", "scalar", "value"]  # scalar: number or text; value: known per row


class FormulaError(ValueError):
    """A formula that is not in the language; `position` is the 0-based offset of the culprit."""

    def __init__(self, reason: str, position: int, hint: str = "") -> None:
        super().__init__(f"{reason} at position {position}{hint}")
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class Expr:
    kind: Kind
    evaluate: Callable[[Row], Value]
    position: int
    literal: Value = None  # a literal's value, checked before any row is read (column names, boolean text)
    is_literal: bool = False


@dataclass(frozen=True)
class _Token:
    kind: Literal["number", "string", "name", "op", "end"]
    text: str
    position: int
    value: Value = None


def compile_formula(formula: str, columns: Sequence[str]) -> Callable[[Row], bool]:
    """A row predicate: true when the formula holds for the row (given in `columns` order)."""
    parser = _Parser(_tokens(formula), list(columns))
    expr = parser.expression(0)
    token = parser.peek()
    if token.kind != "end":
        raise FormulaError(f"unexpected {token.text!r} after a complete expression", token.position)
    _need_boolean(expr, "a filter")
    return lambda row: _as_bool(expr.evaluate(row)) is True


# tokens

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[^\W\d]\w*")
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "&&", "||", "=", "<", ">", "!", "+", "-", "*", "/", "%", "(", ")", ",")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if space := _SPACE.match(text, i):
            i = space.end()
        elif char in "'\"":
            literal, i_next = _string(text, i)
            tokens.append(_Token("string", text[i:i_next], i, literal))
            i = i_next
        elif number := _NUMBER.match(text, i):
            raw = number.group()
            value: int | float = int(raw) if raw.isdigit() else float(raw)
            tokens.append(_Token("number", raw, i, value))
            i = number.end()
        elif name := _NAME.match(text, i):
            tokens.append(_Token("name", name.group(), i))
            i = name.end()
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if op is None:
                raise FormulaError(
                    f"unexpected character {char!r}", i, " (&& and || are doubled)" if char in "&|" else ""
                )
            tokens.append(_Token("op", op, i))
            i += len(op)
    tokens.append(_Token("end", "end of formula", end))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    """The string literal opening at `start` (single or double quotes, backslash escapes) and where it ends."""
    quote, i = text[start], start + 1
    parts: list[str] = []
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(parts), i + 1
        if char == "\\":
            escape = text[i + 1 : i + 2]
            if escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                parts.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if escape not in _ESCAPES:
                raise FormulaError(f"unknown escape \\{escape} in a string", i)
            parts.append(_ESCAPES[escape])
            i += 2
            continue
        parts.append(char)
        i += 1
    raise FormulaError("unterminated string", start)


# parsing

_OR, _AND, _COMPARE, _ADD, _MULTIPLY = 1, 2, 3, 4, 5
_LEVELS = {"||": _OR, "or": _OR, "&&": _AND, "and": _AND, "+": _ADD, "-": _ADD, "*": _MULTIPLY, "/": _MULTIPLY,
           "%": _MULTIPLY, **dict.fromkeys(("==", "=", "!=", "<>", "<", "<=", ">", ">="), _COMPARE)}  # fmt: skip


class _Parser:
    def __init__(self, tokens: list[_Token], columns: list[str]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.columns = columns

    def peek(self) -> _Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.advance()
        if token.text != text or token.kind not in ("op", "name"):
            raise FormulaError(f"expected {text!r}, found {token.text!r}", token.position)
        return token

    def level(self, token: _Token) -> int | None:
        return _LEVELS.get(token.text) if token.kind in ("op", "name") else None

    def expression(self, min_level: int) -> Expr:
        """Operators of `min_level` and above; one level's run of operators becomes one n-ary node."""
        left = self.unary()
        while (level := self.level(self.peek())) is not None and level >= min_level:
            operators, operands = [], [left]
            while self.level(self.peek()) == level:
                operators.append(self.advance())
                operands.append(self.expression(level + 1))
            left = _combine(level, operators, operands)
        return left

    def nested(self, opening: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"formula nested more than {MAX_DEPTH} levels deep", opening.position)

    def unary(self) -> Expr:
        token = self.peek()
        if token.text in ("!", "not", "-") and token.kind in ("op", "name"):
            self.nested(self.advance())
            operand = self.unary()
            self.depth -= 1
            return _not(operand, token.position) if token.text != "-" else _negate(operand, token.position)
        return self.primary()

    def primary(self) -> Expr:
        token = self.advance()
        if token.kind in ("number", "string"):
            kind: Kind = "number" if token.kind == "number" else "string"
            return _literal(token.value, kind, token.position)
        if token.kind == "op" and token.text == "(":
            self.nested(token)
            inner = self.expression(0)
            self.expect(")")
            self.depth -= 1
            return inner
        if token.kind == "name":
            if self.peek().text == "(" and self.peek().kind == "op":
                return self.call(token)
            if token.text in ("true", "false"):
                return _literal(token.text == "true", "boolean", token.position)
            if token.text in _LEVELS:
                raise FormulaError(f"{token.text!r} needs an operand before it", token.position)
            return _column(self.columns, token.text, token.position)
        if token.kind == "end":
            raise FormulaError("the formula ends where an operand is expected", token.position)
        raise FormulaError(f"unexpected {token.text!r} where an operand is expected", token.position)

    def call(self, name: _Token) -> Expr:
        function = _FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise FormulaError(f"unknown function {name.text}()", name.position, f" (known: {known})")
        self.nested(self.expect("("))
        args: list[Expr] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            args.append(self.expression(0))
            while self.peek().kind == "op" and self.peek().text == ",":
                self.advance()
                args.append(self.expression(0))
        self.expect(")")
        self.depth -= 1
        low, high = function.arity
        if not low <= len(args) <= (high if high is not None else len(args)):
            wanted = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise FormulaError(f"{name.text}() takes {wanted} argument(s), got {len(args)}", name.position)
        return function.build(self.columns, args, name.position)


# values


_STANDARD_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _autotype(raw: Any) -> Value:
    """A cell as DSS formulas read it: empty is null, standard integers and decimals are numbers."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool | int | float):
        return raw
    text = str(raw)
    if _STANDARD_NUMBER.fullmatch(text):
        return _number(text)
    return text


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _as_number(value: Value) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    text = value.strip()
    return _number(text) if _STANDARD_NUMBER.fullmatch(text) else None


def _as_bool(value: Value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# tree nodes


def _literal(value: Value, kind: Kind, position: int) -> Expr:
    return Expr(kind, lambda row: value, position, literal=value, is_literal=True)


def _column(columns: list[str], name: str, position: int, read: Callable[[Any], Value] = _autotype) -> Expr:
    if name not in columns:
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise FormulaError(f"unknown column {name!r}", position, f" (the dataset has {shown or 'no columns'})")
    index = columns.index(name)
    return Expr("value", lambda row: read(row[index] if index < len(row) else None), position)


_DESCRIBED = {"boolean": "a boolean", "number": "a number", "string": "text", "scalar": "a number or text"}


def _need_boolean(expr: Expr, role: str) -> None:
    if expr.kind not in ("boolean", "value"):
        raise FormulaError(f"{role} needs a boolean, not {_DESCRIBED[expr.kind]}", expr.position)


def _not(operand: Expr, position: int) -> Expr:
    _need_boolean(operand, "! (not)")
    return Expr("boolean", lambda row: _as_bool(operand.evaluate(row)) is False, position)


def _negate(operand: Expr, position: int) -> Expr:
    if operand.kind in ("boolean", "string"):
        raise FormulaError(f"- needs a number, not {_DESCRIBED[operand.kind]}", operand.position)

    def negate(row: Row) -> Value:
        number = _as_number(operand.evaluate(row))
        return None if number is None else -number

    return Expr("number", negate, position)


def _combine(level: int, operators: list[_Token], operands: list[Expr]) -> Expr:
    if level in (_OR, _AND):
        role = "||" if level == _OR else "&&"
        for operand in operands:
            _need_boolean(operand, role)
        quantifier = any if level == _OR else all
        return Expr("boolean", lambda row: quantifier(_as_bool(o.evaluate(row)) is True for o in operands),
                    operands[0].position)  # fmt: skip
    if level == _COMPARE:
        if len(operators) > 1:
            raise FormulaError("comparisons do not chain; join them with && or ||", operators[1].position)
        return _comparison(operators[0], operands[0], operands[1])
    return _arithmetic(operators, operands)


def _comparison(operator: _Token, left: Expr, right: Expr) -> Expr:
    op = {"=": "==", "<>": "!="}.get(operator.text, operator.text)
    kinds = {left.kind, right.kind}
    if op not in ("==", "!=") and "boolean" in kinds:
        raise FormulaError(f"{operator.text} orders numbers or text, not booleans", operator.position)
    if "boolean" in kinds and kinds - {"boolean", "value"} and not _boolean_text(left, right):
        other = _DESCRIBED[(kinds - {"boolean"}).pop()]
        raise FormulaError(f"{operator.text} compares a boolean with {other}", operator.position)
    test = _COMPARISONS[op]
    return Expr("boolean", lambda row: test(*_compare(left.evaluate(row), right.evaluate(row))), left.position)


def _boolean_text(left: Expr, right: Expr) -> bool:
    """`flag == "true"`: a string literal that spells a boolean may be compared with one."""
    return any(e.is_literal and isinstance(e.literal, str) and _as_bool(e.literal) is not None for e in (left, right))


_COMPARISONS: dict[str, Callable[[bool, int | None], bool]] = {
    "==": lambda equal, order: equal,
    "!=": lambda equal, order: not equal,
    "<": lambda equal, order: order is not None and order < 0,
    "<=": lambda equal, order: order is not None and order <= 0,
    ">": lambda equal, order: order is not None and order > 0,
    ">=": lambda equal, order: order is not None and order >= 0,
}


def _compare(left: Value, right: Value) -> tuple[bool, int | None]:
    """Whether two values are equal, and how they order (-1, 0, 1; None when they do not order). DSS documents
    no rule for mixed types; the twin's is:
    - null (an empty cell, or empty text) equals only null, and orders with nothing;
    - with a boolean on one side, the other converts (`"true"`/`"false"`, any case); booleans do not order;
    - two numbers -- numbers, or text written as a standard integer or decimal -- compare numerically;
    - anything else compares as text, by code point (ISO dates order correctly this way)."""
    if left in (None, "") or right in (None, ""):
        return left in (None, "") and right in (None, ""), None
    if isinstance(left, bool) or isinstance(right, bool):
        flag = _as_bool(left)
        return flag is not None and flag == _as_bool(right), None
    a_number, b_number = _as_number(left), _as_number(right)
    if a_number is not None and b_number is not None:
        return a_number == b_number, (a_number > b_number) - (a_number < b_number)
    a_text, b_text = _text(left), _text(right)
    return a_text == b_text, (a_text > b_text) - (a_text < b_text)


_ARITHMETIC: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else None,  # division by zero is an empty value, not a failed read
    "%": lambda a, b: a % b if b else None,
}


def _arithmetic(operators: list[_Token], operands: list[Expr]) -> Expr:
    for operator, operand in zip([operators[0], *operators], operands, strict=True):
        if operand.kind == "boolean" or (operand.kind == "string" and operator.text != "+"):
            raise FormulaError(f"{operator.text} cannot take {_DESCRIBED[operand.kind]}", operand.position)
    ops = [op.text for op in operators]
    kind: Kind = "number"
    if "+" in ops and any(o.kind != "number" for o in operands):  # + concatenates text, as documented
        kind = "string" if any(o.kind == "string" for o in operands) else "scalar"

    def evaluate(row: Row) -> Value:
        result = operands[0].evaluate(row)
        for op, operand in zip(ops, operands[1:], strict=True):
            value = operand.evaluate(row)
            a, b = _as_number(result), _as_number(value)
            if op == "+" and (a is None or b is None) and not (result is None or value is None):
                result = _text(result) + _text(value)
            elif a is None or b is None:
                return None
            else:
                result = _ARITHMETIC[op](a, b)
        return result

    return Expr(kind, evaluate, operands[0].position)


# functions


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int | None]
    build: Callable[[list[str], list[Expr], int], Expr]


def _simple(kind: Kind, arity: int, apply: Callable[..., Value]) -> _Function:
    def build(columns: list[str], args: list[Expr], position: int) -> Expr:
        return Expr(kind, lambda row: apply(*(a.evaluate(row) for a in args)), position)

    return _Function((arity, arity), build)


def _column_reader(read: Callable[[Any], Value], kind: Kind) -> _Function:
    """val/strval/numval("column name"): the name must be a string literal, so it is checked now."""

    def build(columns: list[str], args: list[Expr], position: int) -> Expr:
        name = args[0]
        if not (name.is_literal and isinstance(name.literal, str)):
            raise FormulaError('a column name in quotes is expected, e.g. val("my column")', name.position)
        column = _column(columns, name.literal, name.position, read)
        return Expr(kind, column.evaluate, position)

    return _Function((1, 1), build)


def _logical(quantifier: Callable[[Any], bool], name: str) -> _Function:
    def build(columns: list[str], args: list[Expr], position: int) -> Expr:
        for arg in args:
            _need_boolean(arg, f"{name}()")
        return Expr("boolean", lambda row: quantifier(_as_bool(a.evaluate(row)) is True for a in args), position)

    return _Function((1, None), build)


def _if(columns: list[str], args: list[Expr], position: int) -> Expr:
    condition, then, otherwise = args
    _need_boolean(condition, "if()")
    kind: Kind = then.kind if then.kind == otherwise.kind else "value"
    return Expr(kind, lambda row: (then if _as_bool(condition.evaluate(row)) else otherwise).evaluate(row), position)


def _strings(test: Callable[[str, str], bool]) -> Callable[[Value, Value], Value]:
    return lambda text, part: False if text is None else test(_text(text), _text(part))


def _mapped(change: Callable[[str], str]) -> Callable[[Value], Value]:
    return lambda value: None if value is None else change(_text(value))


_FUNCTIONS: dict[str, _Function] = {
    "val": _column_reader(_autotype, "value"),
    "strval": _column_reader(lambda raw: _text(raw), "string"),
    "numval": _column_reader(lambda raw: _as_number(_autotype(raw)), "number"),
    "isNull": _simple("boolean", 1, lambda value: value is None),
    "isNotNull": _simple("boolean", 1, lambda value: value is not None),
    "isBlank": _simple("boolean", 1, lambda value: value is None or value == ""),
    "isNonBlank": _simple("boolean", 1, lambda value: not (value is None or value == "")),
    "isNumeric": _simple("boolean", 1, lambda value: _as_number(value) is not None),
    "startsWith": _simple("boolean", 2, _strings(str.startswith)),
    "endsWith": _simple("boolean", 2, _strings(str.endswith)),
    "contains": _simple("boolean", 2, _strings(lambda text, part: part in text)),
    "length": _simple("number", 1, lambda value: len(_text(value))),
    "toLowercase": _simple("string", 1, _mapped(str.lower)),
    "toUppercase": _simple("string", 1, _mapped(str.upper)),
    "trim": _simple("string", 1, _mapped(str.strip)),
    "toString": _simple("string", 1, _text),
    "toNumber": _simple("number", 1, _as_number),
    "and": _logical(all, "and"),
    "or": _logical(any, "or"),
    "if": _Function((3, 3), _if),
}

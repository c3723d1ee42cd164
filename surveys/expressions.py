"""Conditions, constraints and recall: the XLSForm expression subset madoguchi supports.

XLSForm writes a question's show-if condition (``relevant``) and its ``constraint`` in XPath.
madoguchi accepts a documented subset of it (docs/surveys.md, "Expressions"), parses it once
when a survey is saved or imported, and evaluates the parsed tree while a resident answers:

* literals: numbers (``18``, ``2.5``) and strings (``'yes'`` or ``"yes"``);
* references: ``${name}`` (an earlier question's answer) and ``.`` (in a constraint: the
  answer being checked);
* comparisons ``=  !=  <  <=  >  >=``; ``and``, ``or``, ``not(...)``;
* arithmetic on numbers: ``+  -  *  div  mod`` and unary minus; parentheses;
* functions: ``selected(${q}, 'code')``, ``count-selected(${q})``, ``string-length(x)``.

Values follow XPath's rules as ODK applies them: an unanswered or hidden question is the empty
string; a multiple choice answer is its codes separated by spaces; ``=`` and ``!=`` compare as
numbers when either side is a number, else as strings; ``<`` and the others compare as numbers
when both sides are numeric, as strings when both are non-numeric strings (ISO dates and times
order correctly), and are false otherwise. Arithmetic on a value that is not a number gives NaN,
and every comparison with NaN is false, so ``${age} >= 18`` is false until age is answered.

Anything else (``regex()``, ``today()``, paths, ``if()``...) is refused by name when the survey is
saved, so a survey never meets an expression it cannot evaluate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

#: Functions of the subset and how many arguments each takes.
FUNCTIONS: Mapping[str, int] = {
    "not": 1,
    "selected": 2,
    "count-selected": 1,
    "string-length": 1,
}
#: The longest expression accepted (characters): a survey condition, not a program.
MAX_LENGTH = 1000
#: How deeply parentheses and operators may nest.
MAX_DEPTH = 32

#: An evaluated value: XPath's number, string or boolean.
Value = float | str | bool


class ExpressionError(ValueError):
    """An expression outside the subset or malformed; the message says what and where."""


# -- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A number or a string written in the expression."""

    value: float | str


@dataclass(frozen=True)
class Ref:
    """``${name}``, or ``.`` (``name`` is None): an answer."""

    name: str | None


@dataclass(frozen=True)
class Call:
    """A function of :data:`FUNCTIONS` applied to its arguments."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    """Unary minus."""

    operand: Node


@dataclass(frozen=True)
class Binary:
    """An operator between two operands (``and``, ``=``, ``+``, ``div``...)."""

    op: str
    left: Node
    right: Node


Node = Literal | Ref | Call | Unary | Binary


# -- reading --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<ref>\$\{\s*(?P<refname>[^}]*?)\s*\})
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op>!=|<=|>=|=|<|>|\+|-|\*|\(|\)|,)
  | (?P<dot>\.(?![\w.]))
  | (?P<word>[A-Za-z_][\w.:-]*)
  """,
    re.VERBOSE,
)
#: What a ``${...}`` may name: an XLSForm name.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_WORD_OPERATORS = frozenset({"and", "or", "div", "mod"})
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, ref, dot, op, word, end
    text: str
    at: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise ExpressionError(f"unexpected {source[position]!r} at character {position + 1}")
        kind = match.lastgroup or ""
        if kind == "ref":
            name = match.group("refname")
            if not NAME.fullmatch(name):
                raise ExpressionError(
                    f"${{{name}}} at character {position + 1} is not a question name"
                )
            tokens.append(_Token("ref", name, position))
        elif kind != "space":
            tokens.append(_Token(kind, match.group(kind), position))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    """Recursive descent over XPath's precedence: or < and < comparison < +- < * div mod."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def _expect(self, text: str) -> None:
        if self.current.text != text or self.current.kind not in ("op", "word"):
            raise ExpressionError(f"expected {text!r} {self._where()}")
        self._advance()

    def _where(self) -> str:
        token = self.current
        return "at the end" if token.kind == "end" else f"at character {token.at + 1}"

    def _is_word(self, word: str) -> bool:
        return self.current.kind == "word" and self.current.text == word

    def parse(self) -> Node:
        node = self._or()
        if self.current.kind != "end":
            raise ExpressionError(f"unexpected {self.current.text!r} {self._where()}")
        return node

    def _nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _or(self) -> Node:
        node = self._and()
        while self._is_word("or"):
            self._advance()
            node = Binary("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._comparison()
        while self._is_word("and"):
            self._advance()
            node = Binary("and", node, self._comparison())
        return node

    def _comparison(self) -> Node:
        node = self._sum()
        while self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self._advance().text
            node = Binary(op, node, self._sum())
        return node

    def _sum(self) -> Node:
        node = self._product()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self._advance().text
            node = Binary(op, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while (self.current.kind == "op" and self.current.text == "*") or (
            self._is_word("div") or self._is_word("mod")
        ):
            op = self._advance().text
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self.current.kind == "op" and self.current.text == "-":
            self._advance()
            return Unary(self._nested(self._unary))
        return self._primary()

    def _primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self._advance()
            return Literal(float(token.text))
        if token.kind == "string":
            self._advance()
            return Literal(token.text[1:-1])
        if token.kind == "ref":
            self._advance()
            return Ref(token.text)
        if token.kind == "dot":
            self._advance()
            return Ref(None)
        if token.kind == "op" and token.text == "(":
            self._advance()
            node = self._nested(self._or)
            self._expect(")")
            return node
        if token.kind == "word" and token.text not in _WORD_OPERATORS:
            return self._call()
        raise ExpressionError(
            f"expected a value {self._where()}"
            if token.kind == "end"
            else f"unexpected {token.text!r} {self._where()}"
        )

    def _call(self) -> Node:
        token = self._advance()
        name = token.text
        if self.current.text != "(":
            raise ExpressionError(
                f"{name!r} at character {token.at + 1} is not supported "
                "(paths and names are written ${name})"
            )
        if name not in FUNCTIONS:
            raise ExpressionError(f"function {name}() is not supported")
        self._advance()
        args: list[Node] = []
        if self.current.text != ")":
            args.append(self._nested(self._or))
            while self.current.kind == "op" and self.current.text == ",":
                self._advance()
                args.append(self._nested(self._or))
        self._expect(")")
        if len(args) != FUNCTIONS[name]:
            raise ExpressionError(
                f"{name}() takes {FUNCTIONS[name]} argument(s), {len(args)} given"
            )
        if name in ("selected", "count-selected") and not isinstance(args[0], Ref):
            raise ExpressionError(f"{name}() needs a question (${{name}} or .) first")
        return Call(name, tuple(args))


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source, its tree and the questions it reads."""

    source: str
    tree: Node

    @property
    def references(self) -> frozenset[str]:
        """The names of the questions ``${...}`` reads (``.`` is not among them)."""
        return frozenset(ref.name for ref in _walk(self.tree) if isinstance(ref, Ref) and ref.name)

    @property
    def reads_self(self) -> bool:
        """Whether ``.`` appears (allowed in constraints only)."""
        return any(isinstance(node, Ref) and node.name is None for node in _walk(self.tree))

    def evaluate(self, answers: Mapping[str, object], current: object = None) -> Value:
        """The value of the expression for these answers.

        :param answers: stored values by question name (see :func:`as_value`); a name
            missing here is unanswered.
        :param current: the answer ``.`` stands for.
        """
        return _evaluate(self.tree, answers, current)

    def holds(self, answers: Mapping[str, object], current: object = None) -> bool:
        """The expression as a condition (XPath's ``boolean()``)."""
        return _boolean(self.evaluate(answers, current))


def parse(source: str) -> Expression:
    """Parse an expression of the subset.

    :raises ExpressionError: empty, too long, malformed, or outside the subset; the message
        says what and where (it never quotes answers: there are none yet).
    """
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    return Expression(source, _Parser(source).parse())


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from _walk(arg)
    elif isinstance(node, Unary):
        yield from _walk(node.operand)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)


# -- evaluating -----------------------------------------------------------------------------


def as_value(answer: object) -> Value:
    """An answer as XPath sees it: numbers as numbers, choices as space-separated codes,
    nothing as the empty string."""
    if answer is None:
        return ""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, int | float):
        return float(answer)
    if isinstance(answer, list | tuple):
        return " ".join(str(item) for item in answer)
    if isinstance(answer, Mapping):  # a location or a photo: answered, not comparable
        return "answered"
    return str(answer)


def _number(value: Value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    try:
        return float(value.strip()) if value.strip() else math.nan
    except ValueError:
        return math.nan


def _numeric(value: Value) -> bool:
    return not math.isnan(_number(value)) if not isinstance(value, bool) else True


def _string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _boolean(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not math.isnan(value) and value != 0
    return value != ""


def _compare(op: str, left: Value, right: Value) -> bool:
    if op in ("=", "!="):
        if isinstance(left, bool) or isinstance(right, bool):
            equal = _boolean(left) == _boolean(right)
        elif isinstance(left, float) or isinstance(right, float):
            equal = _number(left) == _number(right)
        else:
            equal = left == right
        return equal if op == "=" else not equal
    if _numeric(left) and _numeric(right):
        a: float | str = _number(left)
        b: float | str = _number(right)
    elif isinstance(left, str) and isinstance(right, str) and left and right:
        a, b = left, right
    else:
        return False
    match op:
        case "<":
            return a < b  # type: ignore[operator]
        case "<=":
            return a <= b  # type: ignore[operator]
        case ">":
            return a > b  # type: ignore[operator]
        case _:
            return a >= b  # type: ignore[operator]


def _arithmetic(op: str, left: float, right: float) -> float:
    try:
        match op:
            case "+":
                return left + right
            case "-":
                return left - right
            case "*":
                return left * right
            case "div":
                if right == 0:
                    return (
                        math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left)
                    )
                return left / right
            case _:
                return math.fmod(left, right) if right != 0 else math.nan
    except (OverflowError, ValueError):
        return math.nan


def _evaluate(node: Node, answers: Mapping[str, object], current: object) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        return as_value(current if node.name is None else answers.get(node.name))
    if isinstance(node, Unary):
        return -_number(_evaluate(node.operand, answers, current))
    if isinstance(node, Binary):
        if node.op == "and":
            return _boolean(_evaluate(node.left, answers, current)) and _boolean(
                _evaluate(node.right, answers, current)
            )
        if node.op == "or":
            return _boolean(_evaluate(node.left, answers, current)) or _boolean(
                _evaluate(node.right, answers, current)
            )
        left = _evaluate(node.left, answers, current)
        right = _evaluate(node.right, answers, current)
        if node.op in _COMPARISONS:
            return _compare(node.op, left, right)
        return _arithmetic(node.op, _number(left), _number(right))
    args = [_evaluate(arg, answers, current) for arg in node.args]
    match node.name:
        case "not":
            return not _boolean(args[0])
        case "selected":
            return _string(args[1]).strip() in _string(args[0]).split()
        case "count-selected":
            return float(len(_string(args[0]).split()))
        case _:  # string-length
            return float(len(_string(args[0])))


# -- recall ---------------------------------------------------------------------------------

#: ``${name}`` inside a label or hint.
RECALL = re.compile(r"\$\{\s*([^}]*?)\s*\}")


def recalled_names(label: str) -> list[str]:
    """The names a text recalls with ``${name}``, in order."""
    return RECALL.findall(label)


def recall(label: str, shown: Callable[[str], str]) -> str:
    """A text with each ``${name}`` replaced by how that answer is shown.

    :param shown: the display of an earlier answer by name (empty when unanswered).
    """
    return RECALL.sub(lambda match: shown(match.group(1)), label)

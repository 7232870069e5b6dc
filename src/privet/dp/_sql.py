"""The SQL that ``privet query`` accepts, parsed (by sqlglot) into a plan OpenDP can bound.

Accepted: one ``SELECT`` of aggregates — ``COUNT(*)``, ``COUNT(col)``, ``SUM(col)``,
``AVG(col)``, ``MEDIAN(col)``, ``QUANTILE(col, q)`` or ``PERCENTILE_CONT(q) WITHIN GROUP
(ORDER BY col)`` — from the dataset, with an optional ``WHERE`` of comparisons between
columns and literals, and an optional ``GROUP BY`` of columns. Everything else (joins,
subqueries, MIN/MAX, DISTINCT, HAVING, ORDER BY, LIMIT, window functions) is refused: its
sensitivity cannot be bounded, or it would need post-processing privet does not do.
Nothing here is ever executed as SQL. Error messages name columns and clauses, never a
literal from the query (it may be a value about a person).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import sqlglot
from sqlglot import exp

from privet.errors import InvalidInput


@dataclass(frozen=True)
class Aggregate:
    """One output statistic."""

    name: str
    kind: str  # count | count_column | sum | mean | quantile
    column: str | None = None
    alpha: float | None = None


@dataclass(frozen=True)
class ParsedQuery:
    table: str
    aggregates: tuple[Aggregate, ...]
    group_by: tuple[str, ...] = ()
    where: pl.Expr | None = None
    columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def kind(self) -> str:
        """The release kind the ledger records."""
        kinds = {a.kind for a in self.aggregates}
        if kinds <= {"count", "count_column"}:
            return "histogram" if self.group_by else "count"
        if len(kinds) == 1:
            return next(iter(kinds))
        return "query"


# Resolves a column reference to its name (recording that the query reads it), or refuses it.
_Column = Callable[[exp.Expression], str]

# A literal compared with a column in WHERE, already checked against the column's dtype.
_Literal = str | int | float | bool


def _refuse(what: str) -> InvalidInput:
    return InvalidInput(f"the DP layer cannot bound this query: {what}")


def parse(sql: str, *, table: str, schema: dict[str, str]) -> ParsedQuery:
    """Parse ``sql`` against the dataset ``table`` with columns ``schema`` (name → dtype)."""
    if not sql or not sql.strip():
        raise InvalidInput('give a query, e.g. "SELECT COUNT(*) FROM people"')
    if len(sql) > 20_000:
        raise InvalidInput("the query is longer than 20,000 characters")
    try:
        statements = [s for s in sqlglot.parse(sql) if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        raise InvalidInput("the query is not valid SQL") from None
    if len(statements) != 1:
        raise _refuse("give exactly one SELECT statement")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        raise _refuse("only a single SELECT is supported (no UNION, INSERT, …)")
    for clause, text in (
        ("joins", "joins"),
        ("having", "HAVING"),
        ("order", "ORDER BY"),
        ("limit", "LIMIT"),
        ("offset", "OFFSET"),
        ("distinct", "DISTINCT"),
        ("with_", "WITH"),
        ("windows", "WINDOW"),
        ("qualify", "QUALIFY"),
    ):
        if tree.args.get(clause):
            raise _refuse(f"{text} is not supported")
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        raise _refuse(f"read FROM {table} directly (no subqueries)")
    if source.this.name != table or source.this.args.get("db"):
        raise InvalidInput(f"the query must read FROM {table}, the dataset it runs on")
    if any(isinstance(node, exp.Subquery | exp.Window) for node in tree.find_all(exp.Expression)):
        raise _refuse("subqueries and window functions are not supported")

    used: set[str] = set()

    def column(node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or node.args.get("table"):
            raise _refuse("aggregates and GROUP BY take plain column names, not expressions")
        name = node.name
        if name not in schema:
            raise InvalidInput(f"unknown column {name[:80]!r}: the dataset has no such column")
        used.add(name)
        return name

    group_by: list[str] = []
    group = tree.args.get("group")
    if group is not None:
        for node in group.expressions:
            group_by.append(column(node))
        if len(set(group_by)) != len(group_by):
            raise _refuse("a column appears twice in GROUP BY")

    aggregates: list[Aggregate] = []
    names: set[str] = set(group_by)
    for position, item in enumerate(tree.expressions):
        alias = item.alias if isinstance(item, exp.Alias) else None
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Column):
            if column(node) not in group_by:
                raise _refuse(f"column {node.name[:80]!r} is selected but not in GROUP BY")
            continue
        if isinstance(node, exp.Star):
            raise _refuse("SELECT * releases rows; select aggregates such as COUNT(*)")
        aggregate = _aggregate(node, column, schema)
        name = alias or _default_name(aggregate, position)
        if name in names:
            raise _refuse(f"two outputs are named {name[:80]!r}; give them different AS names")
        names.add(name)
        aggregates.append(Aggregate(name, aggregate.kind, aggregate.column, aggregate.alpha))
    if not aggregates:
        raise _refuse("select at least one aggregate such as COUNT(*)")

    where = None
    where_clause = tree.args.get("where")
    if where_clause is not None:
        where = _predicate(where_clause.this, column, schema)
    return ParsedQuery(
        table=table,
        aggregates=tuple(aggregates),
        group_by=tuple(group_by),
        where=where,
        columns=frozenset(used),
    )


def _default_name(aggregate: Aggregate, position: int) -> str:
    if aggregate.kind == "count":
        return "count"
    if aggregate.kind == "quantile":
        level = f"{aggregate.alpha:g}".replace(".", "_")
        return f"{aggregate.column}_q{level}"
    return f"{aggregate.column}_{aggregate.kind.replace('_column', '')}"


_NUMERIC = ("Int", "UInt", "Float", "Decimal")


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def _aggregate(node: exp.Expression, column: _Column, schema: dict[str, str]) -> Aggregate:
    if isinstance(node, exp.Count):
        target = node.this
        if isinstance(target, exp.Distinct):
            raise _refuse("COUNT(DISTINCT …) is not supported")
        if target is None or isinstance(target, exp.Star):
            return Aggregate("", "count")
        return Aggregate("", "count_column", column(target))
    if isinstance(node, exp.Sum | exp.Avg):
        name = column(node.this)
        if not _is_numeric(schema[name]):
            word = "SUM" if isinstance(node, exp.Sum) else "AVG"
            raise InvalidInput(f"{word} needs a numeric column; {name!r} is {schema[name]}")
        return Aggregate("", "sum" if isinstance(node, exp.Sum) else "mean", name)
    if isinstance(node, exp.Median):
        return _quantile(column(node.this), 0.5, schema)
    if isinstance(node, exp.Quantile):
        return _quantile(column(node.this), _level(node.args.get("quantile")), schema)
    if isinstance(node, exp.WithinGroup) and isinstance(
        node.this, exp.PercentileCont | exp.PercentileDisc
    ):
        order = node.expression
        if not isinstance(order, exp.Order) or len(order.expressions) != 1:
            raise _refuse("PERCENTILE_CONT needs WITHIN GROUP (ORDER BY one column)")
        return _quantile(column(order.expressions[0].this), _level(node.this.this), schema)
    if isinstance(node, exp.Min | exp.Max):
        raise _refuse(
            "MIN and MAX have unbounded sensitivity; use QUANTILE(col, 0.05) or QUANTILE(col, 0.95)"
        )
    if isinstance(node, exp.Func):
        raise _refuse(
            f"the function {node.sql_name()} is not supported "
            "(use COUNT, SUM, AVG, MEDIAN or QUANTILE)"
        )
    raise _refuse("each selected item must be an aggregate of one column, or a GROUP BY column")


def _quantile(name: str, alpha: float, schema: dict[str, str]) -> Aggregate:
    if not _is_numeric(schema[name]):
        raise InvalidInput(f"quantiles need a numeric column; {name!r} is {schema[name]}")
    return Aggregate("", "quantile", name, alpha)


def _level(node: exp.Expression | None) -> float:
    if not isinstance(node, exp.Literal) or node.is_string:
        raise _refuse("the quantile level must be a number between 0 and 1")
    value = float(node.this)
    if not 0.0 <= value <= 1.0 or not math.isfinite(value):
        raise _refuse("the quantile level must be a number between 0 and 1")
    return value


_Compare = Callable[[pl.Expr, pl.Expr], pl.Expr]

_COMPARISONS: dict[type[exp.Binary], _Compare] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}


def _predicate(node: exp.Expression, column: _Column, schema: dict[str, str]) -> pl.Expr:
    """A row filter: a stable transformation, so it needs no budget of its own."""
    if isinstance(node, exp.Paren):
        return _predicate(node.this, column, schema)
    if isinstance(node, exp.And):
        return _predicate(node.this, column, schema) & _predicate(node.expression, column, schema)
    if isinstance(node, exp.Or):
        return _predicate(node.this, column, schema) | _predicate(node.expression, column, schema)
    if isinstance(node, exp.Not):
        return ~_predicate(node.this, column, schema)
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise _refuse("IS takes only NULL in WHERE")
        return pl.col(column(node.this)).is_null()
    if isinstance(node, exp.In):
        if node.args.get("query"):
            raise _refuse("subqueries are not supported")
        name = column(node.this)
        return pl.col(name).is_in([_literal(v, schema[name]) for v in node.expressions])
    if isinstance(node, exp.Between):
        name = column(node.this)
        low = _literal(node.args["low"], schema[name])
        high = _literal(node.args["high"], schema[name])
        return pl.col(name).is_between(low, high)
    for kind, compare in _COMPARISONS.items():
        if isinstance(node, kind):
            left, right = node.this, node.expression
            if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                return compare(pl.col(column(left)), pl.col(column(right)))
            if isinstance(right, exp.Column):
                left, right = right, left
                compare = _flip(kind)
            name = column(left)
            return compare(pl.col(name), pl.lit(_literal(right, schema[name])))
    raise _refuse("WHERE supports comparisons, IN, BETWEEN, IS NULL, AND, OR and NOT")


def _flip(kind: type[exp.Binary]) -> _Compare:
    flipped: dict[type[exp.Binary], type[exp.Binary]] = {
        exp.GT: exp.LT,
        exp.LT: exp.GT,
        exp.GTE: exp.LTE,
        exp.LTE: exp.GTE,
    }
    return _COMPARISONS[flipped.get(kind, kind)]


def _literal(node: exp.Expression, dtype: str) -> _Literal:
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        value = _literal(node.this, dtype)
        if isinstance(value, int | float):
            return -value
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if not isinstance(node, exp.Literal):
        raise _refuse("WHERE compares columns with literal values only")
    if node.is_string:
        if _is_numeric(dtype):
            raise InvalidInput("WHERE compares a numeric column with a text value")
        return str(node.this)
    text = str(node.this)
    number: int | float
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise _refuse("WHERE has a literal that is not a number or a string") from None
    if not _is_numeric(dtype):
        raise InvalidInput("WHERE compares a text column with a number")
    return number

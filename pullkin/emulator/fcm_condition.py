"""FCM topic conditions: ``'a' in topics && ('b' in topics || !('c' in topics))``.

A tiny recursive-descent parser (``!`` binds tighter than ``&&``, which binds tighter
than ``||``; parentheses group).  ``parse`` returns the topics named and a predicate
over a device's set of topics; a malformed condition raises ``ValueError``.  FCM allows
at most five topics in one condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_TOPICS", "TOPIC_NAME", "Condition", "parse"]

MAX_TOPICS = 5
#: A topic name as FCM accepts it (firebase-admin checks the same alphabet).
TOPIC_NAME = re.compile(r"[a-zA-Z0-9\-_.~%]{1,900}")

_TOKEN = re.compile(
    r"""\s*(?:(?P<op>&&|\|\||!|\(|\))|'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<word>[A-Za-z]+))"""
)

Predicate = Callable[[frozenset[str]], bool]


@dataclass(frozen=True)
class Condition:
    topics: frozenset[str]
    matches: Predicate


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"unexpected character at position {pos}")
        kind = match.lastgroup or ""
        value = match[kind]
        tokens.append(("topic" if kind in ("sq", "dq") else kind, value))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._pos = 0
        self.topics: set[str] = set()

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take(self, kind: str, value: str | None = None) -> str:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise ValueError(f"expected {value or kind} at token {self._pos}")
        self._pos += 1
        return token[1]

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise ValueError(f"unexpected token {self._pos}")
        return predicate

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._peek() == ("op", "||"):
            self._pos += 1
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else lambda topics: any(t(topics) for t in terms)

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._peek() == ("op", "&&"):
            self._pos += 1
            terms.append(self._not())
        return terms[0] if len(terms) == 1 else lambda topics: all(t(topics) for t in terms)

    def _not(self) -> Predicate:
        if self._peek() == ("op", "!"):
            self._pos += 1
            inner = self._not()
            return lambda topics: not inner(topics)
        return self._primary()

    def _primary(self) -> Predicate:
        if self._peek() == ("op", "("):
            self._pos += 1
            inner = self._or()
            self._take("op", ")")
            return inner
        name = self._take("topic")
        if not TOPIC_NAME.fullmatch(name):
            raise ValueError(f"invalid topic name {name!r}")
        self._take("word", "in")
        self._take("word", "topics")
        self.topics.add(name)
        return lambda topics: name in topics


def parse(text: str) -> Condition:
    """Parse an FCM condition; ``ValueError`` says what is wrong with it."""
    parser = _Parser(_tokens(text))
    predicate = parser.parse()
    if len(parser.topics) > MAX_TOPICS:
        raise ValueError(f"a condition may name at most {MAX_TOPICS} topics")
    return Condition(frozenset(parser.topics), predicate)

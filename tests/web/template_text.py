"""Finds text a reader sees in a Jinja2 template that does not go through gettext.

Two passes over each template:

* the markup: every ``{{ }}``, ``{% %}`` and ``{# #}`` is replaced by a marker and
  the rest is read with :class:`html.parser.HTMLParser`; a text node (outside
  ``<script>``, ``<style>``, ``<code>`` and ``<pre>``, which hold code, not prose)
  or a visible attribute (``title``, ``alt``, ``placeholder``, ``aria-label``, a
  button's ``value``) with a letter in it is hard-coded text;
* the expressions: Jinja2's own parser finds every string constant; one that reads
  as prose (a capital then a small letter, or two words) and is printed, given to a
  macro or put in a list, but not inside ``_()``/``gettext``/``ngettext`` nor
  compared with something, is hard-coded text too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from jinja2 import Environment, nodes

#: Words that are the same in every language (the service's name).
ALLOWED = {"fivesafes"}
MARK = "\x00"
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label"}
CODE_TAGS = {"script", "style", "code", "pre"}
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}


@dataclass(frozen=True)
class Finding:
    template: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.text!r}"


def _has_words(text: str) -> bool:
    # Attributes a macro writes into its caller's tag (name="value") are not text.
    rest = re.sub(r'[\w-]+="[^"]*"', " ", text.replace(MARK, " "))
    for word in ALLOWED:
        rest = re.sub(rf"\b{re.escape(word)}\b", " ", rest)
    return bool(re.search(r"[^\W\d_]", rest))


class _Markup(HTMLParser):
    def __init__(self, name: str) -> None:
        super().__init__(convert_charrefs=True)
        self.name = name
        self.found: list[Finding] = []
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE_TAGS:
            self.in_code += 1
        values = dict(attrs)
        for key, value in attrs:
            visible = key in VISIBLE_ATTRIBUTES or (
                key == "value" and values.get("type") in ("submit", "button", "reset")
            )
            if visible and value and _has_words(value):
                self.found.append(Finding(self.name, self.getpos()[0], f"{key}={value}"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in CODE_TAGS:
            self.in_code -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_TAGS and self.in_code:
            self.in_code -= 1

    def handle_data(self, data: str) -> None:
        if not self.in_code and _has_words(data):
            self.found.append(Finding(self.name, self.getpos()[0], data.strip()))


def _blank(match: re.Match[str]) -> str:
    # Keep the line count (for the findings' lines) and leave a marker.
    return f" {MARK} " + "\n" * match.group(0).count("\n")


def markup_findings(name: str, source: str) -> list[Finding]:
    parser = _Markup(name)
    parser.feed(JINJA.sub(_blank, source))
    parser.close()
    return parser.found


def is_prose(text: str) -> bool:
    # A format string ("%Y-%m-%d", "%.3f") is not prose; a literal % ("Pass mark (%)") is.
    if re.search(r"%[-#0-9. +]*[A-Za-z(]", text) or not re.search(r"[^\W\d_]{2}", text):
        return False
    if re.match(r"[A-Z][a-z’']", text):
        return True
    words = text.split()
    return len(words) >= 2 and not all(re.fullmatch(r"[a-z0-9_-]+", w) for w in words)


def _parents(tree: nodes.Node) -> dict[int, nodes.Node]:
    out: dict[int, nodes.Node] = {}
    for node in tree.find_all(nodes.Node):
        for child in node.iter_child_nodes():
            out[id(child)] = node
    return out


def expression_findings(env: Environment, name: str, source: str) -> list[Finding]:
    tree = env.parse(source)
    parents = _parents(tree)
    found = []
    for const in tree.find_all(nodes.Const):
        if not isinstance(const.value, str) or not is_prose(const.value):
            continue
        node: nodes.Node = const
        wrapped = False
        while id(node) in parents:
            parent = parents[id(node)]
            if isinstance(parent, nodes.Call) and (
                isinstance(parent.node, nodes.Name) and parent.node.name in GETTEXT
            ):
                wrapped = True
                break
            if isinstance(parent, nodes.Compare | nodes.Test | nodes.Getitem):
                wrapped = True  # a value compared or looked up, not shown
                break
            if isinstance(parent, nodes.Filter) and parent.name in ("translate",):
                wrapped = True
                break
            node = parent
        if not wrapped:
            found.append(Finding(name, const.lineno, const.value))
    return found


def findings(env: Environment, name: str, source: str) -> list[Finding]:
    """Every hard-coded text of the template ``name`` (its ``source``)."""
    return markup_findings(name, source) + expression_findings(env, name, source)

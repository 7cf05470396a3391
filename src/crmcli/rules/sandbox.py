"""The Jinja2 environment message templates render in, under limits (issue 17).

A template is policy, written by an admin, but it runs on every queued message and at
`policy check`, so it must not be able to stop either: no loader (`include`, `extends` and
`import` are refused when it is compiled), an immutable sandbox, and per rendering a cap on
loop steps and calls, on the size of every value it builds and of its output, and a time
budget. Whatever goes wrong while rendering is the template's problem (TemplateProblem),
never a crash of the command.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any

MAX_OUTPUT = 100_000  # characters of one rendered subject or body
MAX_VALUE = 100_000  # characters or items of any value a template builds
MAX_STEPS = 100_000  # loop iterations, calls and filters of one rendering
MAX_INTEGER_BITS = 10_000  # `**` past this is not a message
RENDER_SECONDS = 2.0  # wall time of one rendering
# the tags that would read other templates: there is no loader, and none is wanted
LOADING_TAGS = {"Extends": "extends", "Include": "include", "Import": "import"}
LOADING_TAGS["FromImport"] = "from … import"
_WIDTH = re.compile(r"\d+")


class TemplateProblem(ValueError):
    """A template that does not parse, names an unknown field, or breaks a limit."""


class TemplateLimit(TemplateProblem):
    """A rendering that went past one of the limits above."""


@dataclass
class Budget:
    """What one rendering may still spend."""

    deadline: float = field(default_factory=lambda: time.monotonic() + RENDER_SECONDS)
    steps: int = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimit(f"more than {MAX_STEPS:,} loop steps and calls (the limit)")
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"took more than {RENDER_SECONDS:g} s to render (the limit)")


_BUDGET: ContextVar[Budget | None] = ContextVar("crm_template_budget", default=None)


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:  # None: Jinja folding constants while it compiles
        budget.step()


@contextmanager
def budget() -> Iterator[Budget]:
    spent = Budget()
    token = _BUDGET.set(spent)
    try:
        yield spent
    finally:
        _BUDGET.reset(token)


# --- sizes -------------------------------------------------------------------------------------


def _too_big(what: str, size: int) -> TemplateLimit:
    return TemplateLimit(f"{what} of {size:,} is over the limit of {MAX_VALUE:,}")


def sized(value: Any) -> Any:
    """`value`, if it is no bigger than MAX_VALUE characters or items."""
    if isinstance(value, str | bytes | list | tuple | dict | set):
        if len(value) > MAX_VALUE:
            raise _too_big("a value", len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        _bits(value.bit_length())
    return value


def _bits(bits: int) -> None:
    if bits > MAX_INTEGER_BITS:
        raise TemplateLimit(f"a number over {MAX_INTEGER_BITS:,} bits (the limit)")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set) else 0


def _expect(what: str, size: int) -> None:
    """Refuse before computing what would be `size` characters or items."""
    if size > MAX_VALUE:
        raise _too_big(what, size)


def _small_numbers(args: Iterable[Any]) -> None:
    """Widths, counts and padding given to filters and methods stay under MAX_VALUE."""
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_VALUE:
            raise TemplateLimit(f"a width or count of {arg:,} is over the limit of {MAX_VALUE:,}")


def _format_widths(text: str) -> None:
    """`%` and str.format specs: a width or precision over MAX_VALUE pads that much."""
    for width in _WIDTH.findall(text):
        if len(width) > 6 or int(width) > MAX_VALUE:
            raise TemplateLimit(f"a format width of {width} is over the limit of {MAX_VALUE:,}")


def _str_format_spec(text: str) -> None:
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format reports it
    for _literal, _name, spec, _conversion in fields:
        if spec and "{" in spec:
            raise TemplateLimit("nested format fields ('{:{}}') are not allowed in templates")
        if spec:
            _format_widths(spec)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Before `*`, `**` and `%`: the repetitions, powers and paddings that are the way to a
    huge value in one step."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _length(seq) and isinstance(times, int) and not isinstance(times, bool):
                _expect("a repeated value", _length(seq) * max(times, 0))
        if isinstance(left, int) and isinstance(right, int):
            _bits(left.bit_length() + right.bit_length())
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            _bits(left.bit_length() * max(right, 0))
    elif operator == "%" and isinstance(left, str):
        _format_widths(left)


# --- filters and methods that grow their input by a factor -------------------------------------


def _lines(text: Any) -> int:
    return str(text).count("\n") + 1


def _estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse, before running it, a filter or str method whose result would be over
    MAX_VALUE although its arguments are each under it."""
    given = {**dict(enumerate(args)), **kwargs}
    text = value if isinstance(value, str) else None
    if name == "replace" and text is not None:
        old, new = str(given.get(0, given.get("old", ""))), str(given.get(1, given.get("new", "")))
        count = text.count(old) if old else len(text) + 1
        _expect("a replaced text", len(text) + count * max(len(new) - len(old), 0))
    elif name == "join" and isinstance(value, str | list | tuple):  # filter: value|join(d)
        separator = given.get(0, given.get("d", ""))
        _expect("a joined text", len(value) * len(str(separator)) + _length(value))
    elif name == "indent" and text is not None:
        width = given.get(0, given.get("width", 4))
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _expect("an indented text", len(text) + _lines(text) * max(pad, 0))
    elif name == "wordwrap" and text is not None:
        width = given.get(0, given.get("width", 79))
        wrap = str(given.get(2, given.get("wrapstring")) or "\n")
        lines = len(text) // max(width if isinstance(width, int) else 1, 1) + _lines(text)
        _expect("a wrapped text", len(text) + lines * len(wrap))
    elif name == "expandtabs" and text is not None:
        size = given.get(0, given.get("tabsize", 8))
        _expect("an expanded text", len(text) + text.count("\t") * max(int(size), 0))
    elif name == "format" and text is not None:
        _format_widths(text)


def _str_method_join(separator: str, items: Any) -> None:
    count = len(items) if hasattr(items, "__len__") else MAX_VALUE
    _expect("a joined text", count * len(separator))


def _limited_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter that counts as a step, refuses widths and counts over the limit,
    estimates what it would grow to (replace, join, indent, wordwrap, format) and checks
    the size of what it returns."""
    from jinja2.utils import _PassArg

    skip = 1 if _PassArg.from_obj(function) is not None else 0  # context/environment first

    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        _step()
        value, rest = args[skip] if len(args) > skip else None, args[skip + 1 :]
        _small_numbers([*rest, *kwargs.values()])
        if name == "join" and value is not None and not hasattr(value, "__len__"):
            value = list(value)  # a generator: its length is needed
            args = (*args[:skip], value, *rest)
        if name == "sum" and isinstance(kwargs.get("start", rest[1] if len(rest) > 1 else 0), list):
            raise TemplateLimit("sum adds numbers; it does not join lists in a template")
        _estimate(name, value, rest, kwargs)
        return sized(function(*args, **kwargs))

    return run


# --- the environment -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment(undefined: type) -> Any:
    from jinja2 import pass_context
    from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

    class LimitedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _step()
            check_binop(operator, left, right)
            return sized(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _step()
            owner = getattr(__obj, "__self__", None)
            name = getattr(__obj, "__name__", "")
            if isinstance(owner, str):
                _small_numbers([*args, *kwargs.values()])
                if name == "join" and args:
                    args = (list(args[0]) if not hasattr(args[0], "__len__") else args[0],)
                    _str_method_join(owner, args[0])
                else:
                    _estimate(name, owner, args, kwargs)
            return sized(super().call(__context, __obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            _str_format_spec(value.__self__)

            def checked(*args: Any, **kwargs: Any) -> str:
                return sized(wrapped(*args, **kwargs))

            return checked

    @pass_context
    def steps(_context: Any, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _step()
            yield item

    @pass_context
    def checked_size(_context: Any, value: Any) -> Any:
        return sized(value)

    def limited_range(*args: int) -> range:
        _step()
        return safe_range(*args)

    env = LimitedEnvironment(
        undefined=undefined,
        autoescape=False,  # plain-text email
        keep_trailing_newline=True,
        finalize=lambda value: "" if value is None else value,  # a missing company prints ""
    )
    env.filters = {
        name: _limited_filter(name, function)
        for name, function in env.filters.items()
        if name not in ("tojson",)  # no use in a plain-text message; `indent` pads each line
    }
    env.filters["_crm_steps"] = steps
    env.filters["_crm_sized"] = checked_size
    env.globals = {
        "range": limited_range,
        **{k: v for k, v in env.globals.items() if k in ("dict", "cycler", "joiner", "namespace")},
    }
    return env


def compile_template(env: Any, text: str) -> Any:
    """The template, refusing the tags that load other files and counting every loop step
    and the size of every `~` join."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    if len(text) > MAX_OUTPUT:
        raise TemplateLimit(f"the template is {len(text):,} characters, over {MAX_OUTPUT:,}")
    tree = env.parse(text)
    for kind, tag in LOADING_TAGS.items():
        found = next(tree.find_all(getattr(nodes, kind)), None)
        if found is not None:
            raise TemplateProblem(
                f"{{% {tag} %}} is not allowed (line {found.lineno}): a template cannot read "
                "other templates or files; write the text into this one"
            )

    class Limits(NodeTransformer):
        def visit_For(self, node: Any) -> Any:  # noqa: N802 (Jinja's visitor names)
            node = self.generic_visit(node)
            node.iter = nodes.Filter(node.iter, "_crm_steps", [], [], None, None)
            node.iter.set_lineno(node.lineno)
            return node

        def visit_Concat(self, node: Any) -> Any:  # noqa: N802
            node = self.generic_visit(node)
            wrapped = nodes.Filter(node, "_crm_sized", [], [], None, None)
            return wrapped.set_lineno(node.lineno)

    return env.from_string(Limits().visit(tree))


def render_limited(template: Any, context: dict[str, Any]) -> str:
    """Render, streaming, stopping at MAX_OUTPUT characters."""
    parts: list[str] = []
    total = 0
    for chunk in template.generate(context):
        total += len(chunk)
        if total > MAX_OUTPUT:
            raise TemplateLimit(f"the output is over {MAX_OUTPUT:,} characters (the limit)")
        parts.append(chunk)
    return "".join(parts)

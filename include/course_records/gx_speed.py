"""Great Expectations, imported fast and run without repeated work. Import GX through `load()`.

GX stays the rule engine: nothing here decides a verdict. Two things are changed, both measured
(issue 11) and both keeping GX's results byte-identical (tests/include/course_records/test_gx_speed.py):

* Import time. `import great_expectations` imports scipy.stats and altair for one expectation we
  never use (expect_column_kl_divergence_to_be_less_than: ~1.2 s of a cold `validate`). `load()`
  puts stand-ins for them in `sys.modules` that import the real module on first use.
* Expectation kwargs. GX rebuilds an expectation's whole configuration (a pydantic `dict()`)
  for every single kwarg it reads while planning metrics (thousands of times per suite, ~1 s of
  a small file's validation). Within one validation (`scope()`), an expectation object's
  kwargs are read once and reused: these readers only read them, and GX makes a new expectation
  object whenever it changes one.
* Nullable integer columns. `expect_column_values_to_be_between` compares numpy numbers and
  dates vectorised, but pandas' nullable Int64 one value at a time in Python (~3 s per million
  rows). GX drops the missing values before it compares, so such a column arrives without any
  and is handed on as int64/float64: the same comparisons, vectorised.
* Row conditions. GX's pandas engine filters the whole batch with `DataFrame.query` for every
  metric of every expectation that has a `row_condition` (hundreds of filtered copies of the frame
  per suite; ~11 s of pyarrow `take` on a million rows). The filtered frame depends only on the
  batch and the condition, so it is computed once per (batch, condition) and shared: GX's metrics
  read their domain frame, they never write it (and pandas' copy-on-write would keep a write local).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

_LAZY = ("scipy.stats", "altair")  # imported by GX at start, used only by expectations we don't run


class _Deferred(types.ModuleType):
    """A stand-in in sys.modules that imports the real module on the first attribute asked of it."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        with _lock:
            real = sys.modules.get(name)
            if real is self or real is None:
                sys.modules.pop(name, None)
                try:
                    real = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)
                    raise
        return getattr(real, attr)


_lock = threading.RLock()
_loaded: types.ModuleType | None = None
_PATCHES: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, GX's own, ours)


def _patch(cls: type, name: str, ours: Any) -> None:
    _PATCHES.append((cls, name, cls.__dict__[name], ours))
    setattr(cls, name, ours)


@contextlib.contextmanager
def unpatched() -> Iterator[None]:
    """GX exactly as shipped, for the tests that compare its results with ours."""
    load()
    for cls, name, original, _ in _PATCHES:
        setattr(cls, name, original)
    try:
        yield
    finally:
        for cls, name, _, ours in _PATCHES:
            setattr(cls, name, ours)


def load() -> types.ModuleType:
    """`great_expectations`, imported with the heavy unused dependencies deferred, and patched."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            if "great_expectations" not in sys.modules:
                for name in _LAZY:
                    if name not in sys.modules:
                        spec = importlib.util.find_spec(name)  # imports the parent package only (cheap)
                        if spec is not None:
                            stand_in = sys.modules[name] = _Deferred(name)
                            stand_in.__spec__ = spec
            import great_expectations

            _patch_row_conditions()
            _patch_expectation_kwargs()
            _patch_between_on_nullable_numbers()
            _loaded = great_expectations
    return _loaded


# --- row conditions: one filtered frame per (batch, condition) --------------------------------

class _Scope(threading.local):
    """What one validation (in this thread) computed once: filtered frames, expectation kwargs."""

    def __init__(self) -> None:
        self.data: Any = None
        self.frames: dict[tuple[str, Any], Any] = {}
        self.kwargs: dict[int, tuple[Any, dict]] | None = None  # None: outside a scope, nothing kept


_filtered = _Scope()


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """One validation: reuse what is computed once per batch, and forget it all at the end."""
    _filtered.data, _filtered.frames, _filtered.kwargs = None, {}, {}
    try:
        yield
    finally:
        _filtered.data, _filtered.frames, _filtered.kwargs = None, {}, None


def _config_kwargs(expectation: Any) -> dict:
    kept = _filtered.kwargs
    if kept is None:
        return expectation.configuration.kwargs
    hit = kept.get(id(expectation))
    if hit is None or hit[0] is not expectation:  # held by the entry, so its id is not reused
        hit = kept[id(expectation)] = (expectation, expectation.configuration.kwargs)
    return hit[1]


def _patch_expectation_kwargs() -> None:
    """GX's Expectation._get_domain_kwargs/_get_success_kwargs/_get_success_kwarg, reading the
    configuration's kwargs through `_config_kwargs` (same code otherwise, GX 1.x)."""
    from great_expectations.expectations import expectation as module

    cls = module.Expectation

    def _get_domain_kwargs(self: Any) -> dict:
        kwargs = _config_kwargs(self)
        domain_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}
        missing_kwargs = set(self.domain_keys) - set(domain_kwargs.keys())
        if missing_kwargs:
            raise module.InvalidExpectationKwargsError(f"Missing domain kwargs: {list(missing_kwargs)}")
        return domain_kwargs

    def _get_success_kwargs(self: Any) -> dict:
        domain_kwargs = self._get_domain_kwargs()
        kwargs = _config_kwargs(self)
        success_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
        success_kwargs.update(domain_kwargs)
        return success_kwargs

    def _get_success_kwarg(self: Any, key: str, default: Any = None) -> Any:
        kwargs = _config_kwargs(self)
        if key in kwargs:
            return kwargs[key]
        field = self.__fields__.get(key)
        if field is not None:
            return field.default if not field.required else default
        module.logger.warning(f'_get_success_kwarg called with key "{key}", '
                              f"but it is not a known field of {type(self).__name__}")
        return default

    for function in (_get_domain_kwargs, _get_success_kwargs, _get_success_kwarg):
        _patch(cls, function.__name__, function)


def _patch_row_conditions() -> None:
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    original = PandasExecutionEngine._apply_row_condition_filter

    def _apply_row_condition_filter(self: Any, data: Any, row_condition: Any, domain_kwargs: dict) -> Any:
        if _filtered.kwargs is None:  # outside scope(): as GX does it
            return original(self, data, row_condition, domain_kwargs)
        try:  # GX passes the condition as a string or its dict form (a pandas pass-through filter)
            condition = row_condition if isinstance(row_condition, str) else \
                json.dumps(row_condition, sort_keys=True)
        except (TypeError, ValueError):  # a condition object: as GX does it
            return original(self, data, row_condition, domain_kwargs)
        if _filtered.data is not data:
            _filtered.data, _filtered.frames = data, {}
        key = (condition, domain_kwargs.get("condition_parser"))
        frame = _filtered.frames.get(key)
        if frame is None:
            frame = _filtered.frames[key] = original(self, data, row_condition, domain_kwargs)
        return frame

    _patch(PandasExecutionEngine, "_apply_row_condition_filter", _apply_row_condition_filter)


# --- between on nullable numbers: vectorised ------------------------------------------------

def _patch_between_on_nullable_numbers() -> None:
    import pandas as pd
    from great_expectations.expectations.registry import _registered_metrics

    _, provider = _registered_metrics["column_values.between.condition"]["providers"]["PandasExecutionEngine"]
    cell, original = _free_variable(provider, "metric_fn")

    def metric_fn(cls: Any, column: Any, *args: Any, **kwargs: Any) -> Any:
        dtype = column.dtype
        if isinstance(dtype, pd.core.arrays.masked.BaseMaskedDtype) and dtype.kind in "iuf" and not column.hasnans:
            column = column.astype(dtype.numpy_dtype)
        return original(cls, column, *args, **kwargs)

    _PATCHES.append((_Cell(cell), "cell_contents", original, metric_fn))
    cell.cell_contents = metric_fn


class _Cell:
    """A closure cell as something `unpatched()` can set an attribute of."""

    def __init__(self, cell: Any) -> None:
        self.__dict__["cell"] = cell

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.cell, name, value)


def _free_variable(function: Any, name: str) -> tuple[Any, Any]:
    """The innermost closure cell named `name` in `function` or the functions it closes over (GX's
    decorators each keep the function they wrap as `metric_fn`), and its value: the metric itself."""
    seen, todo = set(), [function]
    while todo:
        current = todo.pop()
        if id(current) in seen or not callable(current):
            continue
        seen.add(id(current))
        code, cells = getattr(current, "__code__", None), getattr(current, "__closure__", None) or ()
        if code is None:
            continue
        for free, cell in zip(code.co_freevars, cells, strict=True):
            inner = cell.cell_contents
            if free == name and name not in getattr(getattr(inner, "__code__", None), "co_freevars", ()):
                return cell, inner
            todo.append(inner)
    raise RuntimeError(f"GX changed: no {name} behind {function!r}; update include/course_records/gx_speed.py")

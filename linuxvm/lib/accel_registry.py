"""The accelerator registry: faster stand-ins for named reference functions.

Our own glue, with no kernel counterpart. The closest kernel idea is the x86
"alternatives" and ``static_call``: the same function, patched at boot with a
faster body when the machine allows it. Here an accelerator is a function in
``linuxvm/accel/`` that leaves exactly the state its reference function leaves;
it registers itself under a name, and each ``Machine`` holds an ``AccelTable``
saying which accelerators are on (``Machine(fast=...)``). A reference function
asks its machine's table and, when its accelerator is on, hands the call over::

    fast = m.accel.rmqueue_bulk
    if fast is not None:
        return fast(zone, order, count, head, migratetype, cold)

This module sits below every layer so that mm/ and arch/ can read a table without
importing the accelerators themselves (docs/accelerators.md).
"""

__all__ = ["Accelerator", "REGISTRY", "register", "replace_body", "AccelTable"]


class Accelerator:
    """One registered accelerator: its name, the reference it stands in for, its body."""

    __slots__ = ("name", "reference", "function", "summary")

    def __init__(self, name: str, reference: str, function, summary: str):
        self.name = name
        self.reference = reference
        self.function = function
        self.summary = summary

    def __repr__(self):
        return f"<accelerator {self.name} for {self.reference}>"


# name -> Accelerator, filled when linuxvm.accel is imported (linuxvm/__init__.py does)
REGISTRY: dict = {}


def register(name: str, reference: str):
    """Decorator: register ``function`` as the accelerator ``name`` of ``reference``.

    :param name: the switch name (``Machine(fast={name, ...})``, ``m.accel.set(name, on)``)
    :param reference: the dotted path of the reference function it stands in for
    """
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"accelerator name {name!r} is not a plain identifier")

    def attach(function):
        if name in REGISTRY and REGISTRY[name].function is not function:
            raise ValueError(f"accelerator {name!r} is registered twice")
        doc = (function.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Accelerator(name, reference, function, doc[0] if doc else "")
        return function
    return attach


def replace_body(name: str, function) -> None:
    """Put ``function`` (a compiled body, linuxvm/accel/ccore.py) in place of registered
    accelerator ``name``'s body; its reference and summary stay.

    :raises ValueError: no accelerator ``name`` is registered
    """
    acc = REGISTRY.get(name)
    if acc is None:
        raise ValueError(f"no accelerator named {name!r} to replace")
    REGISTRY[name] = Accelerator(name, acc.reference, function, acc.summary)


class AccelTable:
    """Which accelerators one machine uses: ``table.NAME`` is the function, or None (off).

    >>> m = Machine(fast={"rmqueue_bulk"})      # only that one on
    >>> m.accel.rmqueue_bulk is not None, m.accel.touch_write
    (True, None)

    :param fast: True (every registered accelerator on), False (all off, the reference
        code everywhere), or a collection of accelerator names to turn on (the rest off)
    :raises ValueError: a name that no accelerator has
    :raises TypeError: ``fast`` is none of those
    """

    def __init__(self, fast=True):
        if isinstance(fast, bool):
            on = set(REGISTRY) if fast else set()
        elif isinstance(fast, (set, frozenset, list, tuple)):
            on = set(fast)
            for name in on:
                self._known(name)
        else:
            raise TypeError(f"fast must be True, False or a set of accelerator names, "
                            f"not {fast!r}")
        for name, acc in REGISTRY.items():
            setattr(self, name, acc.function if name in on else None)

    @staticmethod
    def _known(name) -> Accelerator:
        acc = REGISTRY.get(name) if isinstance(name, str) else None
        if acc is None:
            raise ValueError(f"no accelerator named {name!r} (known: "
                             f"{', '.join(sorted(REGISTRY)) or 'none'})")
        return acc

    def set(self, name: str, on: bool) -> None:
        """Turn accelerator ``name`` on or off from now on (both leave the same state)."""
        setattr(self, name, self._known(name).function if on else None)

    def enabled(self) -> list:
        """Names of the accelerators that are on, sorted."""
        return sorted(n for n in REGISTRY if getattr(self, n, None) is not None)

    def __repr__(self):
        return f"<AccelTable on: {', '.join(self.enabled()) or 'none'}>"

"""The registry of methods: each method of the study is described once, here, as data.

A method is one way of training and scoring the 3D VAE. Every other part of the package asks
this registry (never a hand-written list of names): the model kinds of :mod:`brainuad.models`,
the choices and help of ``brainuad train``, the allowed and default ``methods`` of a study, the
labels of the report, the tie-break of the bundle export and the capability-based messages of
``brainuad predict``. This module imports no torch (the report reads it).

Two capabilities decide how a method is trained and scored:

* ``uses_age_input``: the latent is multiplied by the scaled chronological age ``a_c`` before
  decoding, so reconstructing a scan needs its age;
* ``has_age_head``: a regression head on the flattened encoder features (before the latent)
  predicts the brain age ``a_p``; its error L_age = ``|a_p - a_c|`` is a third anomaly score.

Training needs every subject's age when either is set. A new method whose architecture is one
of these combinations is one :func:`register_method` call (see ``docs/architecture.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from brainuad.errors import ConfigError

_ID_PATTERN = re.compile(r"[a-z][a-z0-9-]*")
_LABEL_PATTERN = re.compile(r"(?P<head>.*?)(?P<var>[A-Za-z]+)_(?P<sub>[A-Za-z0-9]+)")


@dataclass(frozen=True)
class Method:
    """One method of the study.

    Attributes:
        id: the name used in files, configs and the CLI (lower case, digits, ``-``).
        label: the paper's name; an ``_`` starts a subscript that runs to the end
            (``VAE-a_cp`` is shown as VAE-a<sub>cp</sub>).
        uses_age_input: the latent is scaled by the chronological age (module docstring).
        has_age_head: the model predicts the brain age from the encoder features.
        help: one line for ``brainuad train --help``.
        default: trained by a study that does not list its ``methods``.
        export_rank: tie-break of the bundle export between methods of equal validation AUC
            (lower wins).
    """

    id: str
    label: str
    uses_age_input: bool
    has_age_head: bool
    help: str
    default: bool = False
    export_rank: int = 100

    def __post_init__(self) -> None:
        if not _ID_PATTERN.fullmatch(self.id):
            raise ConfigError(
                f"method id: expected lower-case letters, digits and '-', found {self.id!r}"
            )
        if not self.label or self.label.count("_") > 1:
            raise ConfigError(f"method label: expected at most one '_', found {self.label!r}")

    @property
    def needs_age(self) -> bool:
        """True when training needs every subject's chronological age."""
        return self.uses_age_input or self.has_age_head


_REGISTRY: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry; :class:`ConfigError` if its id or label is taken."""
    for other in _REGISTRY.values():
        if method.id == other.id or method.label == other.label:
            raise ConfigError(
                f"method {method.id!r} ({method.label}): expected a new id and label, "
                f"found them taken by {other.id!r} ({other.label})"
            )
    _REGISTRY[method.id] = method
    return method


def unregister_method(method_id: str) -> None:
    """Remove a method (for tests that register a throw-away one); unknown ids are ignored."""
    _REGISTRY.pop(method_id, None)


@contextmanager
def registered(method: Method) -> Iterator[Method]:
    """Register ``method`` for the duration of a ``with`` block."""
    register_method(method)
    try:
        yield method
    finally:
        unregister_method(method.id)


def get_method(method_id: str) -> Method:
    """The registered method ``method_id``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return _REGISTRY[method_id]
    except (KeyError, TypeError):
        raise ConfigError(
            f"method: expected one of {', '.join(method_ids())}, found {method_id!r}"
        ) from None


def is_method(method_id: object) -> bool:
    """True when ``method_id`` is a registered method id."""
    return isinstance(method_id, str) and method_id in _REGISTRY


def all_methods() -> tuple[Method, ...]:
    """Every registered method, in registration order."""
    return tuple(_REGISTRY.values())


def method_ids() -> tuple[str, ...]:
    """The ids of :func:`all_methods`."""
    return tuple(_REGISTRY)


def default_methods() -> tuple[str, ...]:
    """The ids of the methods a study trains when its config names none."""
    return tuple(m.id for m in _REGISTRY.values() if m.default)


def export_preference() -> tuple[str, ...]:
    """Method ids by export tie-break rank (registration order between equal ranks)."""
    return tuple(m.id for m in sorted(_REGISTRY.values(), key=lambda m: m.export_rank))


def baseline_method() -> str:
    """The method every other one is compared with: the first with neither age capability."""
    for m in _REGISTRY.values():
        if not m.needs_age:
            return m.id
    return next(iter(_REGISTRY))


# -- labels ------------------------------------------------------------------------------
def method_label(method: str) -> str:
    """Plain-text name of a method id (its label; an unregistered id is shown as itself)."""
    return _REGISTRY[method].label if method in _REGISTRY else method


def label_html(label: str) -> str:
    """``VAE-a_cp`` -> ``VAE-a<sub>cp</sub>``; the caller escapes the parts (no ``<>&`` here)."""
    head, _, sub = label.partition("_")
    return f"{head}<sub>{sub}</sub>" if sub else head


def label_tex(label: str) -> str:
    """Matplotlib mathtext of a label: ``VAE-a_p`` -> ``VAE-$a_p$``, ``VAE-a_cp`` ->
    ``VAE-$a_{cp}$``; a label without a subscript is returned unchanged."""
    m = _LABEL_PATTERN.fullmatch(label)
    if not m:
        return label
    sub = m["sub"] if len(m["sub"]) == 1 else f"{{{m['sub']}}}"
    return f"{m['head']}${m['var']}_{sub}$"


def describe_capabilities(method: Method) -> str:
    """One line naming what a method's model does (for help texts and messages)."""
    parts = []
    if method.uses_age_input:
        parts.append("latent scaled by the chronological age")
    if method.has_age_head:
        parts.append("brain-age head before the latent")
    return " and ".join(parts) or "no age input, no age head"


# -- the methods of the paper, and VAE-a_cp ----------------------------------------------
register_method(
    Method(
        id="vae",
        label="VAE",
        uses_age_input=False,
        has_age_head=False,
        help="the baseline",
        default=True,
        export_rank=2,
    )
)
register_method(
    Method(
        id="vae-ac",
        label="VAE-a_c",
        uses_age_input=True,
        has_age_head=False,
        help="latent multiplied by the chronological age",
        default=True,
        export_rank=1,
    )
)
register_method(
    Method(
        id="vae-ap",
        label="VAE-a_p",
        uses_age_input=False,
        has_age_head=True,
        help="multi-task brain-age prediction (the paper's best)",
        default=True,
        export_rank=0,
    )
)
register_method(
    Method(
        id="vae-acp",
        label="VAE-a_cp",
        uses_age_input=True,
        has_age_head=True,
        help="both: latent multiplied by the chronological age and the brain-age head",
        default=False,
        export_rank=3,
    )
)

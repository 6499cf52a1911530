"""Entry point of the ``brainuad`` command.

Every module of :mod:`brainuad.cli` that defines ``register(app)`` adds its sub-commands, in the
order of :data:`COMMAND_MODULES`. A :class:`~brainuad.errors.BrainUADError` (a user mistake) is
printed as one line on stderr with exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from brainuad import __version__
from brainuad.errors import BrainUADError

# pipeline order, as shown by --help
COMMAND_MODULES = (
    "demo",
    "run",
    "synth",
    "cohort",
    "data",
    "preprocess",
    "cache",
    "train",
    "score",
    "evaluate",
    "report",
    "bundle",
    "bids",
)

_STATE = {"debug": False}

app = typer.Typer(
    name="brainuad",
    help=(
        "Unsupervised anomaly detection in 3D brain MRI with multi-task brain-age prediction "
        "(Bengs, Behrendt et al., SPIE Medical Imaging 2022): preprocess T1 scans, train 3D VAEs "
        "on healthy brains, score and evaluate new scans."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"brainuad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    _STATE["debug"] = debug


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"brainuad.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"brainuad.cli.{name}":
                continue  # stage not installed in this build
            raise
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failure, 2 usage or input error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        rv = app(args=args, prog_name="brainuad", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except BrainUADError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # click usage errors (bad option, missing argument)
        if isinstance(exc, _click_exception_types()):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        raise
    return rv if isinstance(rv, int) else 0


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """Click's exception class: vendored inside newer typer releases, a dependency in older."""
    types: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as Vendored  # type: ignore

        types.append(Vendored)
    except ImportError:
        pass
    try:
        from click import ClickException

        types.append(ClickException)
    except ImportError:
        pass
    return tuple(types)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()

"""Entry point of the ``brainuad`` command.

Every module of :mod:`brainuad.cli` that defines ``register(app)`` adds its sub-commands, in the
order of :data:`COMMAND_MODULES`. :func:`main` is the one place where errors become exit
statuses (``docs/cli-contract.md``), each printed as one ``error:`` line on stderr:

- 0: done;
- 1: some items of a batch failed (the others were written; the command names the errors file);
- 2: the input or the options (a :class:`~brainuad.errors.BrainUADError`, a usage error);
- 3: the environment: the system refused a read or write (``OSError``: a full disk, a read-only
  folder, a file where a folder must go...), not enough memory, a folder held by another
  brainuad process (:class:`~brainuad.errors.EnvironmentProblem`);
- 130: interrupted (Ctrl-C).

``--debug`` shows the traceback instead of the one line.
"""

from __future__ import annotations

import importlib
import sys

import typer

from brainuad import __version__
from brainuad.errors import BrainUADError, EnvironmentProblem, describe_os_error

EXIT_OK, EXIT_PARTIAL, EXIT_INPUT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

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
    """Run the CLI; returns the exit status (module docstring: 0, 1, 2, 3 or 130)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        rv = app(args=args, prog_name="brainuad", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort as exc:
        # click turns EOFError (a truncated file read somewhere) into Abort as well as Ctrl-C
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, EOFError):
            if debug:
                raise
            return _fail(f"unexpected end of data, a truncated file? ({cause})", EXIT_INPUT)
        typer.echo("Interrupted." if isinstance(cause, KeyboardInterrupt) else "Aborted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except (BrainUADError, OSError, MemoryError) as exc:
        if debug:
            raise
        return _fail(*_message_and_status(exc))
    except Exception as exc:  # click usage errors (bad option, missing argument)
        if isinstance(exc, _click_exception_types()):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        raise
    return rv if isinstance(rv, int) else 0


def _message_and_status(exc: BrainUADError | OSError | MemoryError) -> tuple[str, int]:
    """The one-line message and exit status of an error the CLI reports without a traceback."""
    if isinstance(exc, EnvironmentProblem):
        return str(exc), EXIT_ENVIRONMENT
    if isinstance(exc, BrainUADError):
        return str(exc), EXIT_INPUT
    if isinstance(exc, OSError):
        return describe_os_error(exc), EXIT_ENVIRONMENT
    detail = str(exc).strip().splitlines()
    return "not enough memory" + (f" ({detail[0]})" if detail else ""), EXIT_ENVIRONMENT


def _fail(message: str, status: int) -> int:
    typer.echo(f"error: {message}", err=True)
    return status


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

"""The ``nnlearn`` script and ``python -m nnlearn``: the CLI of ``nnlearn.cli``.

The CLI's modules are imported here, inside the guard: a Ctrl-C that arrives while they load
exits 130 with one line, as a Ctrl-C during a command does, not with a traceback.
"""

import sys


def main() -> None:
    try:
        from nnlearn.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()

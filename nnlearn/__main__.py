"""``python -m nnlearn`` runs the same CLI as the ``nnlearn`` script."""

from nnlearn.cli import main

if __name__ == "__main__":
    main()

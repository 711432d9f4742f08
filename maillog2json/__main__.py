"""``python -m maillog2json`` runs the same command as the ``maillog2json`` script."""

from maillog2json.cli import main

if __name__ == "__main__":
    main()

"""``python -m owlmigrate``: the same CLI as the ``owlmigrate`` script."""

from owlmigrate.cli import main

if __name__ == "__main__":
    main()

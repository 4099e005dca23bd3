"""The ``hpo`` command line."""

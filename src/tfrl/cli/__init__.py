"""The ``tfrl`` command line."""

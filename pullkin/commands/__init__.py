"""Sub-commands of the ``pullkin`` CLI, one module each."""

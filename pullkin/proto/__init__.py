"""Generated protobuf classes (``proto/generate.py``); never edit by hand."""

"""Helpers the tests run or import: servers playing other parts (a "real deployment" for drift)."""

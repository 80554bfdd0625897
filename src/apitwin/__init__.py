"""apitwin: faithful, stateful twins of data-platform APIs, and a contract-testing toolkit around them."""

__version__ = "0.1.0"

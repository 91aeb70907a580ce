"""The ground floor: torch-free pieces every room shares, importing no room.

Known errors (``errors``), the BERT tokenizer and caption rules (``text``), box geometry and metrics
(``box_metrics``, ``zoom``), file hashing (``hashing``), X-VLM's record formats (``records``) and the
search-settings schema (``search_settings``). engine/, export/ and app/ import it; it imports none of
them (the import contracts in pyproject.toml, checked by tests/test_layers.py).
"""

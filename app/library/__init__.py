"""The photo library: SQLite schema and migrations, folder scan, safe decode, thumbnails, the indexer.

Torch-free. The indexer reaches the model only through ``encoder.ImageEncoder`` (the bundle runtime
satisfies it), and the database only through ``db`` and ``store``.
"""

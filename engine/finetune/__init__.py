"""Fine-tuning a checkpoint on a person's library: the settings derived from the checkpoint and the
records (``plan``), and the run the app starts as a child process (``job``)."""

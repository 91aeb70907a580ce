"""The bridge from the library to a full fine-tune: the library's captions and taught names as X-VLM
training records (``labels``), and the fine-tune run started from a bundle's recorded checkpoint, with
torch in a child process (``run``). docs/personal.md, "Bridge to a full fine-tune"."""

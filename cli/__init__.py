"""The ``multigrain`` command: the front door above every room. It declares the arguments and hands
each command to its room's handler; no room imports it back."""

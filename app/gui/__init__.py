"""The desktop app: a PySide6 window over the library, the search and the model bundles.

The GUI thread only paints and dispatches. Database and model work run on worker threads
(``tasks.run_task``) and come back as signals; model import and export, which need torch, run in a
separate process (``processes.StepProcess``), so this process never imports torch.
"""

from app.gui.pyside_fix import install as _install_pyside_fix

_install_pyside_fix()

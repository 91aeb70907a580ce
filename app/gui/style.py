"""The window's look: Qt's Fusion style, a light palette and a few rules for titles and hints."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f6fed"

SHEET = f"""
QLabel#panelTitle {{ font-weight: 600; font-size: 11pt; padding: 2px 0 4px 0; }}
QLabel#hint, QLabel#summary {{ color: #5f6672; }}
QLabel#summary {{ padding: 2px 2px 6px 2px; }}
QLabel#resultTitle {{ font-weight: 600; font-size: 11pt; padding-top: 6px; }}
QLabel#resultDetails, QLabel#groundingLine {{ color: #4a505a; }}
QGroupBox {{ font-weight: 600; border: 1px solid #d9dce1; border-radius: 6px; margin-top: 12px;
             padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; }}
QListView#results {{ background: #f7f8fa; border: 1px solid #d9dce1; border-radius: 6px; }}
QTreeWidget#folders {{ border: 1px solid #d9dce1; border-radius: 6px; }}
QLineEdit#query {{ border: 1px solid #c4c9d1; border-radius: 8px; padding: 4px 10px; background: white; }}
QLineEdit#query:focus {{ border: 2px solid {ACCENT}; }}
QToolButton#exampleImage {{ border: 1px solid #c4c9d1; border-radius: 8px; padding: 2px 10px;
                            background: white; }}
QProgressBar {{ border: 1px solid #c4c9d1; border-radius: 5px; text-align: center; background: white; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#eef0f3"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f5f6f8"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#1f2329"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#1f2329"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#7a818c"))
    app.setPalette(palette)
    app.setStyleSheet(SHEET)

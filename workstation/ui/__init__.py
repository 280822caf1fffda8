"""PySide6 only: windows, panels, dialogs and Qt models over the packages below."""

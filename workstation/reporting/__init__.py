"""Reporting: templates, report model, dictation, drafts, SR writer, sign and send."""

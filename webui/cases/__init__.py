"""Intake (受理登记), the case page with diagram and history, the printable receipt."""

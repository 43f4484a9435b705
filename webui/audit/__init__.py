"""The auditor's workspace (/audit): verification and step-by-step replay of a case's history."""

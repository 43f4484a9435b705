"""jiefen case engine: BPMN deployments, cases, tasks, timers and history. Never imports Flask."""

"""我的待办: task lists per role, the task page, claim / unclaim / complete."""

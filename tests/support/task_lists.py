"""The task-list filters as plain Python: the reference the list tests compare the database's answers with."""
from engine.services import cases


def passes_filters(task, case, who, now, *, overdue, assigned, process_id, category, q) -> bool:
    """Whether a task row (with its case) passes list_tasks' filters for `who` at `now`.

    A whole valid case code finds that case's tasks; any other q is a substring of the code or the title
    (the list's LIKE; the test data is digits and Chinese, where SQLite's case folding plays no part)."""
    q = (q or "").strip()
    if overdue and not (task.due_at is not None and task.due_at < now):
        return False
    if (assigned == "me" and task.assignee != who.username) or (assigned == "none" and task.assignee is not None):
        return False
    if (process_id and task.process_id != process_id) or (category and case.category != category):
        return False
    if q and cases.valid_code(q):
        return case.code == q
    return not q or q in case.code or q in task.title

"""Engine messages by id. The engine raises `msg("case.not_found", case_id=7)`; the English text is the default
below, every other language lives in the web UI's Babel catalog, domain `errors` (msgid = the message id,
msgstr = the template: webui/translations/<locale>/LC_MESSAGES/errors.po).

Templates use str.format fields ({name}, {name!r}); a field without a parameter stays as written, so a message
can be given to marshmallow first and get its parameters from marshmallow's own `.format(...)` call."""
from __future__ import annotations

import string

# id -> English default. Every id needs a zh_CN entry in webui/translations/zh_CN/LC_MESSAGES/errors.po
# (tests/unit/test_messages.py checks both).
MESSAGES: dict[str, str] = {
    # cases and access
    "case.not_found": "case {case_id} not found",
    "case.not_readable": "you may not read this case",
    "case.changed_concurrently": "the case changed concurrently",
    "case.changed_retry": "the case changed concurrently; reload and retry",
    "case.stale": "the case changed since you loaded it",
    "case.numbers_exhausted": "case numbers for {area_code} in {year} are exhausted",
    "case.start_org_unknown": "unknown org unit {org_unit!r}",
    "case.start_forbidden_in": "you hold no role that opens this process in {org_code}",
    "case.start_forbidden": "you hold no role that may open a case of this process",
    # the public look-up
    "lookup.no_match": "no case matches this case code and phone number",
    "lookup.rating_invalid": "the rating could not be saved",
    "lookup.rate_when_closed": "a case can be rated once it is closed",
    "lookup.rated_already": "this case has been rated already; a case is rated once",
    # attachments
    "attachment.not_found": "attachment {attachment_id} not found",
    "attachment.task_not_open": "task {task_id} is not an open task of this case",
    "attachment.forbidden": "you may not add files to this case or task",
    "attachment.empty": "the file is empty",
    "attachment.file_required": 'choose a file to upload (field "file")',
    "attachment.too_large": "the file is larger than {max}",
    "attachment.too_many": "this case already has {max} files, the most allowed",
    "attachment.type_refused": "this kind of file is not accepted: only PDF, JPEG, PNG, MP3, WAV, M4A audio and "
                               "plain text (judged by the content, not the name)",
    "attachment.file_missing": "the file of attachment {attachment_id} is missing or was changed in the file store",
    # documents
    "document.kind_unknown": "unknown kind of document {kind!r}; one of: {kinds}",
    "document.kind_not_for_case": "a {title} is not issued from a case of this kind",
    "document.forbidden": "only those who handle this case may issue its documents",
    "document.download_forbidden": "an issued document carries the parties' phone and ID numbers in full: only those "
                                   "who handle this case and auditors may download it",
    "document.fields_missing": "the {title} cannot be issued: the case lacks {fields}",
    "document.field_missing": "needed for the document: {field}",
    "document.template_broken": "the document's template does not render: {problem}",
    "document.pdf_unavailable": "PDFs cannot be made on this server: {problem}",
    "document.not_found": "document {document_id} not found",
    "document.file_missing": "the file of document {document_id} is missing or was changed in the file store",
    # tasks
    "task.not_found": "task {task_id} not found",
    "task.not_yours": "this task is not for your roles",
    "task.already_done": "this task was already completed",
    "task.already_done_by_process": "this task was already completed by the process",
    "task.changed": "the task changed just now; retry",
    "task.claimed_by": "already claimed by {assignee}",
    "task.claimed_by_other": "claimed by {assignee}",
    "task.taken_by": "claimed by {assignee}",
    "task.claim_lost": "somebody else just claimed this task",
    "task.not_claimed": "this task is not claimed",
    "task.not_overseen": "only a supervisor or director over this task's unit may reassign, release or urge it",
    "task.reassign_to_whom": "choose the user to give the task to",
    "task.already_assigned": "the task is already assigned to {assignee}",
    "task.reassign_ineligible": "{username} does not hold this task's role at its unit",
    "task.urge_note_required": "write what the reminder (催办) asks for",
    "task.urge_note_too_long": "the reminder may be at most {max} characters",
    "task.draft_claim_first": "claim the task before saving a draft of it (so nobody else overwrites it)",
    "form.draft_value": "Enter a single value.",
    "task.not_ready": "this task is no longer ready",
    "tasks.page_too_high": "page must be at most {max_page}",
    "tasks.list_all_forbidden": "only administrators and auditors list all tasks",
    "tasks.unknown_sort": "unknown sort {sort!r}",
    # the case ledger (台账)
    "ledger.unknown_sort": "unknown sort {sort!r}",
    "ledger.unknown_status": "unknown status {status!r} (open or closed)",
    "ledger.unknown_org_unit": "unknown org unit {org_unit!r}",
    "oversight.forbidden": "only supervisors, directors, auditors and administrators see the center's figures",
    "oversight.unit_forbidden": "{org_unit!r} is not one of the units you oversee",
    "stats.forbidden": "only supervisors, directors and auditors read the statistics",
    "stats.unit_forbidden": "you do not supervise org unit {org_unit!r}",
    "stats.no_units": "no org unit to count",
    "stats.unknown_group": "unknown grouping {group_by!r} (org_unit, category, channel, process, dept, month)",
    "stats.bad_period": "the period ends before it starts",
    "stats.period_too_long": "a period of at most {days} days",
    "stats.rebuild_forbidden": "only an administrator may recount the statistics",
    "ledger.unknown_outcome": "unknown outcome class {outcome!r} (resolved, unresolved, withdrawn, transferred, "
                              "not_accepted)",
    "tasks.unknown_scope": "unknown scope {scope!r}",
    # processes and the running engine
    "audit.forbidden": "only auditors and administrators open the audit replay",
    "files.store_unavailable": "the file store cannot be reached: {problem}",
    "files.s3_client_missing": "the file store is configured as S3 but boto3 is not installed (pip install boto3)",
    "audit.search_forbidden": "only auditors and administrators search the records of every case",
    "audit.case_code_empty": "enter a case code, or a part of one",
    "audit.version_not_of_case": "the case never ran on process version {version_id}",
    "audit.not_called": "the case's process version does not call process {process_id!r}",
    "process.deploy_forbidden": "only administrators deploy processes",
    "process.not_deployed": "process {process_id!r} is not deployed",
    "decision.not_deployed": "decision table {decision_id!r} is not deployed",
    "decision.no_such_version": "decision table {decision_id!r} has no version {version}",
    "process.version_not_found": "process version {version_id} not found",
    "process.read_forbidden": "only administrators, auditors and process designers see processes and their versions",
    "process.validate_forbidden": "only administrators and process designers check process files",
    "process.activate_forbidden": "only administrators activate process versions",
    "process.no_such_version": "process {process_id!r} has no version {version}",
    "process.note_too_long": "the change note is longer than {max} characters",
    "decision.draft_not_found": "decision table draft {draft_id} not found",
    "decision.draft_not_yours": "decision table draft {draft_id} belongs to {author}",
    "decision.draft_bad_id": "a decision id starts with a letter or _ and holds only letters, digits and _ (at most 200)",
    "decision.draft_exists": "decision table {decision_id!r} is already deployed: open it from the decision tables to edit it",
    "process.draft_forbidden": "only administrators and process designers edit process drafts",
    "process.draft_not_found": "process draft {draft_id} not found",
    "process.draft_not_yours": "process draft {draft_id} belongs to {author}",
    "process.draft_bad_id": "a process id starts with a letter or _ and holds only letters, digits, _, - and . (at most 200)",
    "process.draft_exists": "process {process_id!r} is already deployed: open it from its page to edit it",
    "process.draft_too_large": "the draft is larger than {max} bytes",
    "migration.forbidden": "only administrators migrate running cases",
    "migration.same_version": "choose two different versions: the cases run on v{version} already",
    "migration.not_a_source_task": "{element_id!r} is not a user task of v{version}",
    "migration.not_a_target_task": "{element_id!r} is not a user task of v{version}",
    "migration.case_not_on_version": "case {case_id} is not an open case of v{version}",
    "migration.open_step_removed": "the open step {name} has no counterpart in v{version}: map it to a user task",
    "migration.active_element_removed": "{name} is under way and v{version} no longer has it",
    "migration.not_a_user_task": "the open step would become {name}, which is not a user task in v{version}",
    "migration.multi_instance_changed": "the multi-instance step {name} is under way and changed in v{version}",
    "migration.subprocess_changed": "the subprocess {name} is under way and changed in v{version}",
    "migration.passed_step_removed": "the case has passed {name}, which v{version} no longer has",
    "migration.timer_not_armed": "v{version} adds the timer {timers} to {name}: it is not armed for a case already there",
    "migration.not_restorable": "the case could not be restored on v{version}: {error}",
    "migration.no_longer_open": "the case is no longer an open case of v{version}",
    "history.replay_wrong_version": "the replay runs on v{version}, but the migration recorded leaves v{expected}",
    "process.return_forbidden": "only administrators see and return drafts submitted for deployment",
    "process.draft_not_submitted": "process draft {draft_id} is not submitted for deployment",
    "decision.draft_not_submitted": "decision table draft {draft_id} is not submitted for deployment",
    "case.repeat_of_unknown": "case {case_id} is not a case you may read: choose one of the party's cases listed",
    "history.replay_not_ready": "event {seq}: task {spec_name} was not ready in the replay",
    "process.failed": "the process failed at {element}: {message}",
    "routing.due_date_failed": "due date of {element_id}: {error}",
    "routing.candidates_failed": "candidateGroups of {element_id}: {error}",
    "routing.unknown_org": "unknown org unit {org_unit!r}",
    "routing.unstaffed": "nobody holds the role {role} at {org_unit} (task {task}): choose a unit where somebody holds it",
    "routing.move_failed": "the unit expression of {element_id}: {error}",
    "routing.not_below": "{org_unit} is not a unit below {case_unit}",
    "form.option_not_offered": "{label}: {value!r} is not offered for this case",
    "directory.no_top": "no top-level center: run `jiefen init-db`",
    # incidents
    "incident.forbidden": "only an administrator may handle incidents",
    "deadlines.forbidden": "only an administrator may recompute deadlines",
    "expiry.not_confirmed": "check the holiday arrangements and confirm that the period has ended, or leave the task open",
    "expiry.gone": "the period no longer waits for confirmation (the request was registered or the deadline recomputed)",
    "incident.not_found": "incident {incident_id} not found",
    "incident.already_resolved": "incident {incident_id} was already resolved",
    "incident.timer_gone": "the timer of incident {incident_id} is no longer pending (the case moved on): "
                           "resolve the incident instead",
    "incident.note_required": "a note saying how the incident was dealt with is required",
    # users, logins, tokens
    "password.too_short": "password must have at least {min_length} characters",
    "password.has_username": "password must not contain the username",
    "password.too_common": "password is too common or too easy to guess{reason}: choose a longer, less common one",
    "org.not_found": "org unit {org_unit!r} not found",
    "org.area_code_invalid": "area code must be 6 digits",
    "org.phone_invalid": "an org unit's phone must be a phone number",
    "org.unknown_kind": "unknown org unit kind {kind!r}",
    "org.code_taken": "an org unit with code {code!r} exists already",
    "org.code_invalid": "the code {code!r} is not shaped like an administrative division code",
    "org.code_in_process": "the code {code} is named by the process {processes} (role@{code}): change the process first",
    "org.kind_not_under": "a unit of this kind does not belong under {parent}: a city center takes districts, a "
                          "district townships, a township villages, and centers take resident departments",
    "org.presence_invalid": "unknown presence {presence!r}",
    "org.presence_departments_only": "only a resident department has a presence (常驻, 轮驻 or 随驻)",
    "org.rota_days_required": "a rota (轮驻) needs the weekdays the department is present",
    "org.rota_day_invalid": "{day!r} is not a weekday (1 Monday … 7 Sunday)",
    "org.move_top": "the top-level center cannot move",
    "org.move_below_itself": "a unit cannot move under itself or a unit below it ({parent})",
    "org.move_alone": "a move is a change of its own: send parent without other fields",
    "org.move_same_parent": "the unit is under {parent} already",
    "org.delete_top": "the top-level center cannot be deleted",
    "org.delete_in_use": "{org_unit} cannot be deleted while anything refers to it: {units} units below it, "
                         "{members} memberships, {cases} cases, {tasks} task entries, {statistics} statistics rows, "
                         "{processes} processes naming it",
    "role.not_found": "role {role!r} not found",
    "user.invalid_username": "invalid username",
    "user.role_required": "at least one role is required",
    "user.exists": "user {username!r} already exists",
    "user.unknown_role": "unknown role {role!r} (known: {known})",
    "user.not_found": "user {username!r} not found",
    "login.wrong_credentials": "wrong username or password",
    "login.locked": "too many failed logins for this username from this address: try again in {minutes} minutes",
    "login.demo_password": "the demo password only works in demo mode",
    "token.revoked": "token revoked",
    "token.expired": "token expired at {expires_at}",
    "token.unknown": "unknown token",
    "token.user_disabled": "the token's user is disabled",
    "token.not_found": "token {token_id} not found",
    # the administration console (issue 20)
    "calendar.year_unknown": "the calendar cannot hold the year {year}",
    "calendar.dates_list": "{field} must be a list of dates",
    "calendar.date_invalid": "{field}: {value!r} is not a date (YYYY-MM-DD)",
    "calendar.date_other_year": "{field}: {value} is not in {year}",
    "calendar.date_both": "{value} is listed both as a holiday and as a working day",
    "calendar.no_holidays": "the notice for {year} lists no holidays; enter them, or mark the year provisional",
    "calendar.rejected": "the calendar cannot be used: {reason}",
    "admin.read_forbidden": "only administrators and auditors see the administration console",
    "admin.change_forbidden": "only administrators change users and settings",
    "admin.period_invalid": "the period ends before it starts",
    "admin.not_yourself": "administrators cannot disable themselves or revoke their own administrator role",
    "admin.last_admin": "this is the last active administrator: grant the role to someone else first",
    "ladder.invalid": "the ladder policy has {count} problem(s): see the fields marked",
    "ladder.amount_number": "a whole number from {min} to {max}",
    "ladder.not_a_policy": "a ladder policy (an object with tiers and roles) is needed",
    "ladder.tiers_missing": "tiers: an object with simple, ordinary, complex and major is needed",
    "ladder.unknown_tier": "unknown tier {tier!r} (simple, ordinary, complex, major)",
    "ladder.tier_missing": "the tier {tier} is missing",
    "ladder.no_steps": "at least one step",
    "ladder.not_a_step": "a step is an object: step, direction, amount, unit",
    "ladder.unknown_step": "unknown step {step!r} (prompt, reminder, notice, listing)",
    "ladder.unknown_direction": "before or after the due date",
    "ladder.unknown_unit": "days, working days or hours",
    "ladder.two_thirds_before_only": "“or at 2/3 of the period” is only for a step before the due date",
    "ladder.step_order": "{step} must come after {before}: 提示, 催办, 督办, 挂牌督办 in this order, each once",
    "ladder.not_increasing": "{step} must fall later than {before}",
    "ladder.roles_missing": "roles: one pair per kind of unit is needed",
    "ladder.roles_missing_kind": "the roles for units of kind {kind} are missing",
    "ladder.unknown_kind": "unknown kind of unit {kind!r}",
    "settings.unknown_key": "unknown setting {key!r} (one of {keys})",
    "settings.lane_roles_shape": "the lane map is an object: lane name -> role",
    "settings.lane_twice": "the lane {lane} is listed twice",
    "settings.not_an_object": "an object is needed",
    "settings.consultation_roles_empty": "at least one role",
    "settings.weights_shape": "weights: an object of rate -> weight is needed",
    "settings.unknown_rate": "not a rate the ranking can weigh: {rate} (one of {rates})",
    "settings.weights_zero": "at least one weight above 0",
    "settings.apply_ladder_only": "only a ladder policy can be applied to open tasks",
    "routing.unit_disabled": "{org_unit} is disabled: task {task} cannot be routed there; choose another unit or enable it first",
    "org.active_alone": "disabling or enabling a unit is a request of its own",
    "org.disable_top": "the top-level center cannot be disabled",
    "password.unchanged": "the new password must differ from the present one",
    "password.must_change": "your password was reset: set a new one in the browser first",
    "import.unreadable": "the file could not be read as XLSX or CSV (UTF-8)",
    "import.header_invalid": "the first row must hold the template's columns: {columns}",
    "import.empty": "the file has no rows below the header",
    "import.too_many_rows": "at most {max} rows per import",
    "import.duplicate_login": "login {login} appears more than once in the file",
    "import.has_errors": "{count} rows have errors: nothing was imported",
    "import.membership_format": "write memberships as role@unit code, separated by ;",
    # field messages (InvalidData details)
    "field.password_unchanged": "same as the present password",
    "field.at_least": "at least {min}",
    "field.between": "between {min} and {max}",
    "field.after_since": "must be after the start",
    "field.passwords_differ": "the two entries differ",
    "field.required": "required",
    "field.phone_number": "a phone number: digits, spaces, hyphens, brackets",
    "field.one_of": "one of {choices}",
    "field.not_eligible_assignee": "does not hold the task's role at its unit",
    "field.must_be_object": "must be an object",
    "field.at_most": "at most {max}",
    "field.not_deployed": "not deployed",
    "field.no_such_version": "no version {version}",
    "field.six_digits": "6 digits",
    "field.org_code_city": "6 or 9 digits (330100 or 330100000)",
    "field.org_code_county": "6 or 9 digits (330106 or 330106000)",
    "field.org_code_township": "9 digits: the district's 6 and 3 (330106001)",
    "field.org_code_village": "12 digits: the township's 9 and 3 (330106001001)",
    "field.org_code_department": "its center's digits, a hyphen and a short name (330106-sfj)",
    "field.org_kind": "one of: city, district/county, township, village, department",
    "field.presence": "resident, rota or on call",
    "field.weekday": "weekdays 1 (Monday) to 7 (Sunday)",
    "field.username_chars": "letters, digits, _ . - only",
    "field.password_too_short": "at least {min_length} characters",
    "field.password_has_username": "contains the username",
    "field.password_too_common": "too common or too easy to guess",
    "field.unknown_org": "unknown org unit {org_unit!r}",
    "field.unknown_role": "unknown role {role!r}",
    # case data (engine/case_data.py)
    "data.not_object": "data must be a JSON object",
    "data.invalid": "invalid data ({field}: {problem})",
    "data.bad_character": "{field} holds a character that is not allowed ({character})",
    "data.bad_character_detail": "character {character} is not allowed (control or bidi-override character)",
    "data.reserved_name": "'{key}' is the name of a function that process expressions use; choose another field name",
    "data.too_deep": "nested deeper than {max_depth} levels",
    "data.key_not_text": "keys must be text",
    "data.not_finite": "numbers must be finite (no NaN or Infinity)",
    "data.bad_type": "values must be text, numbers, true/false, null, lists or objects",
    "data.too_big": "the data is {size} bytes, more than the limit of {max_bytes}",
    "data.text_too_long": "the {what} is longer than {max_string} characters",
    "data.text_bad_character": "the {what} holds a character that is not allowed ({character}: a control, "
                               "bidi-override or invalid character)",
    # task forms (engine/forms.py): marshmallow fills {min}, {max}, {choices_text}, ...
    # the supervision ladder's follow-up tasks
    "supervision.return_needs_note": "say why the answer goes back (review note)",
    "supervision.new_date_past": "the promised completion date cannot be in the past",
    "group.no_department": "tick at least one department for the joint consultation",
    "form.not_object": "form data must be a JSON object",
    "form.unknown_fields": "unknown field(s): {fields}",
    "form.invalid": "form validation failed",
    "form.required": "This field is required.",
    "form.null": "This field may not be empty.",
    "form.unknown_field": "Unknown field.",
    "form.one_of": "Must be one of: {choices}.",
    "form.not_list": "Must be a list of choices.",
    "form.group_rows": "Must have between {min} and {max} rows.",
    "form.range": "Must be between {min} and {max}.",
    "form.range_min": "Must be at least {min}.",
    "form.range_max": "Must be at most {max}.",
    "form.length": "Must have {min} to {max} characters.",
    "form.length_min": "Must have at least {min} characters.",
    "form.length_max": "Must have at most {max} characters.",
    "form.not_integer": "Enter a whole number.",
    "form.integer_too_large": "The number is too large.",
    "form.not_number": "Enter a number.",
    "form.not_finite": "Enter a finite number.",
    "form.not_date": "Enter a date (YYYY-MM-DD).",
    "form.not_boolean": "Choose yes or no.",
    "form.not_text": "Enter text.",
    "form.not_phone": "Enter a mobile number (11 digits starting with 1) or a landline with its area code (e.g. 0571-87654321).",
    "form.date_after_today": "Must not be after today ({date}).",
    "form.date_before_today": "Must not be before today ({date}).",
    "form.date_max": "Must not be after {date}.",
    "form.date_min": "Must not be before {date}.",
    # the web layer's own errors
    "server.internal_error": "internal server error",
    "server.database_lost": "the database connection was lost; retry",
    "server.database_lost_key": "the database connection was lost; retry with the same Idempotency-Key",
}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _shown(value):
    """Parameters as people read them: 3.0 as 3."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def render(template: str, params: dict) -> str:
    """`template` filled with `params`; fields without a parameter stay as written (never raises)."""
    try:
        return string.Formatter().vformat(template, (), _Keep({k: _shown(v) for k, v in params.items()}))
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return template


class Message(str):
    """A message by id with its parameters; as a str it is the English text (logs, CLI, existing callers)."""

    id: str
    params: dict

    def __new__(cls, message_id: str, params: dict | None = None) -> Message:
        params = dict(params or {})
        self = super().__new__(cls, render(MESSAGES.get(message_id, message_id), params))
        self.id = message_id
        self.params = params
        return self

    def format(self, *args, **kwargs) -> Message:  # marshmallow's error_messages/validators call this
        return Message(self.id, {**self.params, **kwargs})

    def __reduce__(self):
        return Message, (self.id, self.params)

    def __copy__(self) -> Message:
        return self

    def __deepcopy__(self, memo) -> Message:
        return self

    def __repr__(self) -> str:
        return f"msg({self.id!r}, {self.params!r})"


def msg(message_id: str, **params) -> Message:
    return Message(message_id, params)


def restore(message_id: str, params: dict | None) -> Message:
    """A message read back from storage by id (an incident's): its id was a literal where it was raised."""
    return Message(message_id, params)


def english(message_id: str, params: dict) -> str:
    return render(MESSAGES.get(message_id, message_id), params)

"""The portal's error codes: stable names, readable messages.

Rules:
- A code, once published, never changes meaning and is never reused; add new codes, never
  rename. ``docs/api.md`` lists every code with its message (a test checks they agree).
- Messages never echo user input and never say whether an e-mail address has an account.
- Application errors travel with HTTP 200 (PHP clients only check that curl itself worked);
  only the wire-level codes carry their own HTTP status.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    # wire level (own HTTP status)
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TOO_LARGE = "request_too_large"
    MALFORMED_REQUEST = "malformed_request"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INTERNAL_ERROR = "internal_error"
    SERVER_BUSY = "server_busy"
    # any call
    UNKNOWN_CALL = "unknown_call"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    FIELD_TOO_LONG = "field_too_long"
    NOT_LOGGED_IN = "not_logged_in"
    NOT_ALLOWED = "not_allowed"
    # accounts
    INVALID_EMAIL = "invalid_email"
    PASSWORD_TOO_SHORT = "password_too_short"
    EMAIL_TAKEN = "email_taken"
    WRONG_CREDENTIALS = "wrong_credentials"
    LOGIN_THROTTLED = "login_throttled"
    REQUEST_THROTTLED = "request_throttled"
    CONTACT_NOT_FOUND = "contact_not_found"
    INVALID_RECOVERY_CODE = "invalid_recovery_code"
    RECOVERY_CODE_EXPIRED = "recovery_code_expired"
    RECOVERY_CODE_USED = "recovery_code_used"
    # services
    SERVICE_NOT_FOUND = "service_not_found"
    INVALID_HOST = "invalid_host"
    INVALID_PORT = "invalid_port"
    UNKNOWN_LOCATION = "unknown_location"
    LOCATION_NOT_ALLOWED = "location_not_allowed"
    INVALID_ACTIVATION_HINT = "invalid_activation_hint"
    SERVICE_READONLY = "service_readonly"
    SERVICE_RESTRICTED = "service_restricted"
    SERVICE_MAINTENANCE = "service_maintenance"
    SERVICE_TERMINATED = "service_terminated"
    HAS_RECOVERY_POINTS = "has_recovery_points"
    SUBUSER_NOT_FOUND = "subuser_not_found"
    BACKUP_SERVER_UNAVAILABLE = "backup_server_unavailable"
    SERVICE_NOT_READY = "service_not_ready"
    TASK_NOT_FOUND = "task_not_found"
    RECOVERY_POINT_NOT_FOUND = "recovery_point_not_found"
    PATH_NOT_FOUND = "path_not_found"
    INVALID_PATH = "invalid_path"
    NOT_A_FOLDER = "not_a_folder"
    DISK_SAFE_BUSY = "disk_safe_busy"
    DISK_SAFE_UNAVAILABLE = "disk_safe_unavailable"
    INVALID_SCHEDULE = "invalid_schedule"
    INVALID_KEEP_LAST = "invalid_keep_last"
    INVALID_EXCLUDES = "invalid_excludes"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.NOT_FOUND: "There is nothing at this address; the API is POST /api.php.",
    ErrorCode.METHOD_NOT_ALLOWED: "The API only accepts POST requests.",
    ErrorCode.REQUEST_TOO_LARGE: "The request is larger than the server accepts.",
    ErrorCode.MALFORMED_REQUEST: "The request body could not be read as a form.",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE:
        "Send the fields as multipart/form-data or application/x-www-form-urlencoded.",
    ErrorCode.INTERNAL_ERROR: "The server failed to handle the request; please retry later.",
    ErrorCode.SERVER_BUSY: "The server is busy; try again in a few seconds.",
    ErrorCode.UNKNOWN_CALL: "The apiCALL field does not name a known call.",
    ErrorCode.MISSING_FIELD: "A required field is missing or empty.",
    ErrorCode.INVALID_FIELD: "A field has a value that is not allowed.",
    ErrorCode.FIELD_TOO_LONG: "A field is longer than allowed.",
    ErrorCode.NOT_LOGGED_IN: "This call needs a logged-in session; call login first.",
    ErrorCode.NOT_ALLOWED: "This account is not allowed to make this call.",
    ErrorCode.INVALID_EMAIL: "The e-mail address is not valid.",
    ErrorCode.PASSWORD_TOO_SHORT: "The password is too short.",
    ErrorCode.EMAIL_TAKEN: "An account with this e-mail address already exists.",
    ErrorCode.WRONG_CREDENTIALS: "The e-mail address or the password is wrong.",
    ErrorCode.LOGIN_THROTTLED:
        "Too many failed logins; wait a few minutes or reset the password by e-mail.",
    ErrorCode.REQUEST_THROTTLED:
        "Too many such requests from this address or for this e-mail address; wait an hour "
        "and try again.",
    ErrorCode.CONTACT_NOT_FOUND: "This account has no subuser with that contact_id.",
    ErrorCode.INVALID_RECOVERY_CODE: "The recovery code is not valid.",
    ErrorCode.RECOVERY_CODE_EXPIRED:
        "The recovery code has expired; ask for a new one with recoverPassword.",
    ErrorCode.RECOVERY_CODE_USED:
        "The recovery code was already used; ask for a new one with recoverPassword.",
    ErrorCode.SERVICE_NOT_FOUND: "This account has no service with that id.",
    ErrorCode.INVALID_HOST: "The agent's address must be a hostname or an IP address.",
    ErrorCode.INVALID_PORT: "The agent's port must be a number from 1 to 65535.",
    ErrorCode.UNKNOWN_LOCATION:
        "There is no such location: 527 Washington, 528 Los Angeles, 529 Frankfurt, "
        "530 Bucharest.",
    ErrorCode.LOCATION_NOT_ALLOWED: "This account may not use that location.",
    ErrorCode.INVALID_ACTIVATION_HINT:
        "The activation hint is not one of the documented install methods.",
    ErrorCode.SERVICE_READONLY: "This service is read-only; it cannot be changed.",
    ErrorCode.SERVICE_RESTRICTED:
        "An operator restricted this service; contact support to change it.",
    ErrorCode.SERVICE_MAINTENANCE:
        "This service is under maintenance; try again when the maintenance is over.",
    ErrorCode.SERVICE_TERMINATED: "This service is terminated.",
    ErrorCode.HAS_RECOVERY_POINTS:
        "The service has recovery points: encryption and location cannot change any more.",
    ErrorCode.SUBUSER_NOT_FOUND: "This account has no subuser with that subuser_id.",
    ErrorCode.BACKUP_SERVER_UNAVAILABLE:
        "The location's backup server cannot be reached; please retry later.",
    ErrorCode.SERVICE_NOT_READY:
        "The service is still being set up on its backup server (create_status is not 10); "
        "try again when it is ready.",
    ErrorCode.TASK_NOT_FOUND: "There is no task with that id among this account's services.",
    ErrorCode.RECOVERY_POINT_NOT_FOUND:
        "The service has no recovery point with that id (see getRecoveryPoints).",
    ErrorCode.PATH_NOT_FOUND: "The recovery point holds nothing at that path.",
    ErrorCode.INVALID_PATH:
        "A path must be /-separated from the recovery point's root, without '..' parts.",
    ErrorCode.NOT_A_FOLDER: "That path is a file, not a folder: there is nothing to browse.",
    ErrorCode.DISK_SAFE_BUSY:
        "The disk safe is busy with a backup or its retention; try again when it ends.",
    ErrorCode.INVALID_SCHEDULE:
        "schedule is manual, hourly, daily, weekly, or 'every N' with s, m, h or d "
        "(every 30m).",
    ErrorCode.INVALID_KEEP_LAST: "keep_last is a number of recovery points, 1 to 10000.",
    ErrorCode.INVALID_EXCLUDES: "At most 64 excludes, each one path of at most 4096 "
                                "characters.",
    ErrorCode.DISK_SAFE_UNAVAILABLE:
        "The service's disk safe cannot be read right now; please retry later or contact "
        "support.",
}

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.MALFORMED_REQUEST: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVER_BUSY: 503,
}


class PortalError(Exception):
    """A refusal with a stable code; ``field`` names the offending field when there is one."""

    def __init__(self, code: ErrorCode, field: str | None = None, message: str | None = None):
        self.code = code
        self.field = field
        self.message = message or MESSAGES[code]
        super().__init__(f"{code.value}: {self.message}" + (f" ({field})" if field else ""))

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 200)

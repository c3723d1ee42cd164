"""The LINE gateway: the only place that talks to the Messaging API.

It owns the SDK clients (API and blob hosts, configurable for the simulator), a timeout on
every call, per-endpoint token buckets at LINE's rates, and retries with exponential backoff
on 429 (rate limit), 5xx and timeouts. Pushes carry an ``X-Line-Retry-Key`` that the caller
stores, so a retry can never double-send; a 409 for that key means LINE already accepted it.
Media that residents send is downloaded from the blob host with a size limit enforced while
it streams.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ApiResponse,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    ShowLoadingAnimationRequest,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.config import LineSettings
from bot.messages import Message
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

_RATE_LIMITED = "The API rate limit has been exceeded"
#: LINE's limit on multicast recipients.
MAX_MULTICAST = 500
_INVALID_REPLY_TOKEN = "Invalid reply token"  # noqa: S105 - LINE's error text
#: LINE's message ids are decimal digits (about 18 of them).
_MESSAGE_ID = re.compile(r"[0-9]{1,32}")
_DIGITS = re.compile(r"[0-9]{1,20}")
#: Bytes read at a time from a download, and at most from an error answer.
_CHUNK_BYTES = 64 * 1024
_ERROR_BODY_BYTES = 64 * 1024


class LineApiError(Exception):
    """LINE refused a call (or never answered); carries what LINE said, never message text."""

    def __init__(self, endpoint: str, status: int, message: str, request_id: str | None = None):
        super().__init__(f"{endpoint}: HTTP {status}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.request_id = request_id

    @property
    def retryable(self) -> bool:
        """True for failures worth retrying: no answer, 5xx, or the rate limit."""
        return (
            self.status == 0
            or self.status >= 500
            or (self.status == 429 and self.message.startswith(_RATE_LIMITED))
        )

    @property
    def invalid_reply_token(self) -> bool:
        """True when the reply token was spent or expired (nothing was sent)."""
        return self.status == 400 and self.message == _INVALID_REPLY_TOKEN


@dataclass(frozen=True)
class Sent:
    """A call LINE accepted."""

    request_id: str | None
    #: True when LINE answered 409: the retry key was accepted by an earlier attempt.
    accepted_earlier: bool = False
    data: Any = None


@dataclass(frozen=True)
class Content:
    """Media a resident sent: its bytes and media type (``image/jpeg``, no parameters)."""

    data: bytes
    content_type: str


class ContentTooLarge(Exception):
    """The content is larger than the caller accepts; no more of it was downloaded.

    :ivar limit: the caller's ``max_bytes``.
    :ivar size: the size LINE declared (``Content-Length``), or ``None`` when the download
        was stopped after ``limit + 1`` bytes.
    """

    def __init__(self, limit: int, size: int | None) -> None:
        declared = f" ({size:,} bytes declared)" if size is not None else ""
        super().__init__(f"content over the {limit:,}-byte limit{declared}")
        self.limit = limit
        self.size = size


@dataclass
class _Attempts:
    """What the attempts of one call saw (for the reply-token ambiguity)."""

    count: int = 0
    ambiguous: bool = False


def _read_at_most(response: urllib3.BaseHTTPResponse, limit: int) -> tuple[bytes, bool]:
    """Read up to ``limit`` bytes of a streamed body; also say whether it ended."""
    chunks: list[bytes] = []
    held = 0
    while held < limit:
        chunk = response.read(min(_CHUNK_BYTES, limit - held))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        held += len(chunk)
    return b"".join(chunks), False


def _error_from(endpoint: str, exc: ApiException) -> LineApiError:
    message = ""
    if exc.body:
        try:
            message = str(json.loads(exc.body).get("message", ""))
        except (ValueError, AttributeError):
            message = str(exc.body)[:200]
    request_id = exc.headers.get("x-line-request-id") if exc.headers else None
    return LineApiError(endpoint, int(exc.status or 0), message or str(exc.reason), request_id)


class LineGateway:
    """Rate-limited, retrying, timed access to the Messaging API."""

    def __init__(
        self,
        settings: LineSettings,
        metrics: Metrics | None = None,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.limiter = limiter or RateLimiter()
        self._sleep = sleep
        self._clients = [
            ApiClient(self._configuration(settings.api_base_url)),
            ApiClient(self._configuration(settings.data_base_url)),
        ]
        self.api = MessagingApi(self._clients[0])
        self.blob = MessagingApiBlob(self._clients[1])

    def _configuration(self, host: str) -> Configuration:
        config = Configuration(access_token=self.settings.access_token, host=host)
        # Our retry policy is the only one: urllib3 must not silently resend a POST.
        config.retries = False
        return config

    def close(self) -> None:
        """Close the HTTP connection pools."""
        for client in self._clients:
            client.close()

    # -- the one call path -------------------------------------------------------------

    def call(
        self,
        endpoint: str,
        operation: Callable[..., ApiResponse],
        *args: Any,
        retry_when_unanswered: bool = True,
        attempts: _Attempts | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Sent:
        """Call one ``*_with_http_info`` SDK operation with rate limit, timeout and retries.

        :param endpoint: the endpoint name (rate-limit bucket and metrics label).
        :param operation: an SDK method, e.g. ``self.api.push_message_with_http_info``.
        :param retry_when_unanswered: retry timeouts and lost connections too; false for
            calls that are neither idempotent nor keyed (a resend could act twice).
        :param timeout: seconds per attempt; by default the gateway's.
        :return: what LINE accepted; 409 on a keyed call counts as accepted.
        :raises LineApiError: LINE refused the call, or every attempt failed.
        """
        seen = attempts or _Attempts()
        timeout = timeout or self.settings.timeout

        def attempt() -> Sent:
            seen.count += 1
            if not self.limiter.bucket(endpoint).acquire(max_wait=timeout):
                raise LineApiError(endpoint, 429, f"{_RATE_LIMITED} (local rate limit)")
            status = 0
            try:
                response = operation(*args, _request_timeout=timeout, **kwargs)
                status = response.status_code
                return Sent(response.headers.get("x-line-request-id"), data=response.data)
            except ApiException as exc:
                error = _error_from(endpoint, exc)
                status = error.status
                if status == 409 and "x_line_retry_key" in kwargs:
                    accepted = (
                        exc.headers.get("x-line-accepted-request-id") if exc.headers else None
                    )
                    return Sent(accepted, accepted_earlier=True)
                if error.retryable:
                    seen.ambiguous |= status >= 500
                raise error from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                seen.ambiguous = True
                raise LineApiError(endpoint, 0, type(exc).__name__) from exc
            finally:
                if self.metrics is not None:
                    self.metrics.line_api_calls.labels(endpoint, str(status)).inc()

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, LineApiError) or not exc.retryable:
                return False
            return retry_when_unanswered or exc.status != 0

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait_exponential_jitter(
                multiplier=self.settings.retry_wait, max=8.0, jitter=self.settings.retry_wait
            ),
            retry=retry_if_exception(should_retry),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        result: Sent = retrying(attempt)
        return result

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning("line api retry", extra={"attempt": state.attempt_number, "error": str(exc)})

    # -- operations ----------------------------------------------------------------------

    def _post_json(
        self,
        path: str,
        body: dict[str, Any],
        *,
        x_line_retry_key: str | None = None,
        _request_timeout: float | None = None,
    ) -> ApiResponse:
        """POST a body of LINE JSON through the SDK client (auth, host, errors as usual).

        Messages are built as JSON (bot/messages.py); the SDK's generated methods would turn
        them into models and back, which costs more CPU than the rest of the reply.
        """
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if x_line_retry_key is not None:
            headers["X-Line-Retry-Key"] = x_line_retry_key
        response: ApiResponse = self.api.api_client.call_api(
            path,
            "POST",
            header_params=headers,
            body=body,
            response_types_map={},  # the bot needs only the status and the request id
            auth_settings=["Bearer"],
            _return_http_data_only=False,
            _request_timeout=_request_timeout,
        )
        return response

    def reply(self, reply_token: str, messages: Sequence[Message]) -> Sent:
        """Reply with up to five messages (free of charge; the token is single use).

        An attempt that got no answer may have been delivered; if a later attempt is told
        the token is spent, the reply is taken as delivered rather than sent twice.

        :raises LineApiError: with ``invalid_reply_token`` when the token was spent or expired.
        """
        seen = _Attempts()
        body = {"replyToken": reply_token, "messages": list(messages)}
        try:
            return self.call("reply", self._post_json, "/v2/bot/message/reply", body, attempts=seen)
        except LineApiError as error:
            if error.invalid_reply_token and seen.count > 1 and seen.ambiguous:
                logger.warning("reply token spent after an unanswered attempt; assuming delivered")
                return Sent(None, accepted_earlier=True)
            raise

    def push(self, line_user_id: str, messages: Sequence[Message], retry_key: str) -> Sent:
        """Push to one resident with a stored retry key (every attempt reuses it)."""
        body = {"to": line_user_id, "messages": list(messages)}
        return self.call(
            "push", self._post_json, "/v2/bot/message/push", body, x_line_retry_key=retry_key
        )

    def multicast(
        self, line_user_ids: Sequence[str], messages: Sequence[Message], retry_key: str
    ) -> Sent:
        """Send to up to 500 residents at once with a stored retry key (LINE: 200 calls/s).

        :raises ValueError: no recipient, or more than LINE's 500.
        """
        if not 1 <= len(line_user_ids) <= MAX_MULTICAST:
            raise ValueError(f"multicast takes 1 to {MAX_MULTICAST} recipients")
        body = {"to": list(line_user_ids), "messages": list(messages)}
        return self.call(
            "multicast",
            self._post_json,
            "/v2/bot/message/multicast",
            body,
            x_line_retry_key=retry_key,
        )

    def broadcast(self, messages: Sequence[Message], retry_key: str) -> Sent:
        """Send to every friend with a stored retry key (LINE allows 60 calls an hour)."""
        body = {"messages": list(messages)}
        return self.call(
            "broadcast",
            self._post_json,
            "/v2/bot/message/broadcast",
            body,
            x_line_retry_key=retry_key,
        )

    def get_content(
        self, message_id: str, *, max_bytes: int, timeout: float | None = None
    ) -> Content:
        """Download the image, video, audio or file a resident sent (LINE deletes it later).

        The size limit holds while the content streams: a ``Content-Length`` over it is
        refused before reading, and at most ``max_bytes + 1`` bytes are ever held. A GET is
        idempotent, so timeouts and 5xx are retried like any call (rate bucket ``content``,
        LINE's default 2,000/s).

        :param message_id: the message event's ``message.id`` (decimal digits).
        :param max_bytes: the largest content accepted.
        :param timeout: seconds per attempt (a large video takes longer than an API call);
            by default the gateway's timeout.
        :return: the bytes and their media type.
        :raises ValueError: a message id that is not digits, or ``max_bytes`` below 1
            (nothing is sent).
        :raises ContentTooLarge: the content is larger than ``max_bytes``.
        :raises LineApiError: LINE refused (404: unknown or deleted content) or never answered.
        """
        if not _MESSAGE_ID.fullmatch(message_id):
            raise ValueError("a LINE message id is decimal digits")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        path = f"/v2/bot/message/{message_id}/content"
        found = self.call("content", self._download, path, max_bytes, timeout=timeout).data
        if isinstance(found, ContentTooLarge):
            raise found
        content: Content = found
        return content

    def _download(self, path: str, max_bytes: int, *, _request_timeout: float) -> ApiResponse:
        """GET ``path`` from the blob host, holding at most ``max_bytes + 1`` bytes of it.

        Not the SDK's ``MessagingApiBlob.get_message_content``, nor its ``call_api`` with
        ``_preload_content=False``: both read the whole body into memory (``call_api`` puts
        it in ``ApiResponse.raw_data``), so neither can bound a download. The request goes
        through the SDK client's own urllib3 pool instead: the same configured host, TLS,
        proxy and pool, the same bearer token, and the pool's ``retries=False``.

        A body over the limit comes back as a ``ContentTooLarge`` in ``data``, not raised,
        so that the retry loop sees what it is: an answered call, not to be tried again.

        :raises ApiException: LINE answered with an error (as the SDK raises it).
        """
        client = self.blob.api_client
        response = client.rest_client.pool_manager.request(
            "GET",
            client.configuration.host + path,
            headers={"Authorization": f"Bearer {self.settings.access_token}"},
            preload_content=False,
            timeout=urllib3.Timeout(total=_request_timeout),
        )
        finished = False
        try:
            if not 200 <= response.status <= 299:
                error = ApiException(status=response.status, reason=response.reason)
                error.body = response.read(_ERROR_BODY_BYTES).decode("utf-8", "replace")
                error.headers = response.headers
                raise error
            declared = response.headers.get("Content-Length", "").strip()
            size = int(declared) if _DIGITS.fullmatch(declared) else None
            data: Content | ContentTooLarge
            if size is not None and size > max_bytes:
                data = ContentTooLarge(max_bytes, size)
            else:
                body, finished = _read_at_most(response, max_bytes + 1)
                if len(body) > max_bytes:
                    data = ContentTooLarge(max_bytes, None)
                else:
                    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
                    data = Content(body, kind.lower() or "application/octet-stream")
            return ApiResponse(
                status_code=response.status, headers=response.headers, data=data, raw_data=None
            )
        finally:
            if not finished:
                response.close()  # the rest is not wanted: drop the connection, not drain it
            response.release_conn()

    def get_profile(self, line_user_id: str) -> Any:
        """The resident's LINE profile (display name, language, picture)."""
        return self.call("profile", self.api.get_profile_with_http_info, line_user_id).data

    def show_loading(self, line_user_id: str, seconds: int = 20) -> Sent:
        """Show the typing indicator in a 1:1 chat while a slow reply is prepared."""
        request = ShowLoadingAnimationRequest(chatId=line_user_id, loadingSeconds=seconds)
        return self.call("loading", self.api.show_loading_animation_with_http_info, request)

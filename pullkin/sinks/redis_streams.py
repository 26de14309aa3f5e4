"""Redis Streams sink: each message is one ``XADD`` entry, confirmed by its entry id.

URL: ``redis://[user:password@]host[:port]/STREAM[?db=0&dedup=120&maxlen=N]``
(``rediss://`` for TLS).  The path is the stream key, not a database number: the
database goes in ``db=``.  Entry fields: ``message`` (the JSON line ``pullkin listen``
prints), ``persistent_id`` and ``sender_id``.

De-duplication: with ``dedup=SECONDS`` (default 120, like JetStream's duplicate window;
0 turns it off) one Lua script adds the entry only if ``STREAM:seen:<persistent id>``
does not exist, then sets that key to expire after the window — one atomic step, so a
message re-published after a failover within the window is stored once.  The key is
set only after the ``XADD`` succeeded: a failed add is never mistaken for a duplicate.
``maxlen=N`` trims the stream to about N entries (``MAXLEN ~``).

Records of concurrent handlers go out together in one pipeline (``sinks._base.Batcher``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from pullkin.errors import ConfigError, SinkError
from pullkin.sinks._base import Batcher, Sink, SinkRecord, redact_url, url_options

__all__ = ["RedisStreamSink"]

# KEYS[1] stream, KEYS[2] seen-key; ARGV[1] window s, ARGV[2] maxlen, ARGV[3..] fields.
_ADD_ONCE = """
local window = tonumber(ARGV[1])
if window > 0 and redis.call('EXISTS', KEYS[2]) == 1 then return false end
local id
if tonumber(ARGV[2]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
if window > 0 then redis.call('SET', KEYS[2], id, 'EX', window) end
return id
"""


def _redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
    except ImportError:
        raise ConfigError(
            "the Redis Streams sink needs the redis package: pip install 'pullkin[fleet]'"
        ) from None
    return redis_asyncio


class RedisStreamSink(Sink):
    """``XADD`` each message to *stream*; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        dedup_window: int = 120,
        maxlen: int = 0,
        max_batch: int = 256,
        retry_initial: float = 0.1,
        retry_max: float = 30.0,
    ) -> None:
        super().__init__(retry_initial=retry_initial, retry_max=retry_max)
        if not stream:
            raise ConfigError("the Redis sink needs a stream name: redis://host:6379/STREAM")
        if dedup_window < 0 or maxlen < 0:
            raise ConfigError("the Redis sink's dedup= and maxlen= must not be negative")
        self.name = f"{redact_url(url)} (stream {stream})"
        self.stream = stream
        self.dedup_window = dedup_window
        self.maxlen = maxlen
        self._url = url
        self._client: Any = None
        self._script: Any = None
        self._batcher = Batcher(self._send_batch, max_batch)

    @classmethod
    def from_url(
        cls, url: str, *, retry_initial: float = 0.1, retry_max: float = 30.0
    ) -> RedisStreamSink:
        parts = urlsplit(url)
        query = url_options(parts.query, ("db", "dedup", "maxlen"), "Redis")
        try:
            dedup, maxlen = int(query.get("dedup", 120)), int(query.get("maxlen", 0))
            db = int(query.get("db", 0))
        except ValueError:
            raise ConfigError("the Redis sink's db=, dedup= and maxlen= must be integers") from None
        connect = parts._replace(path=f"/{db}", query="").geturl()
        return cls(connect, stream=unquote(parts.path.lstrip("/")), dedup_window=dedup,
                   maxlen=maxlen, retry_initial=retry_initial, retry_max=retry_max)  # fmt: skip

    async def start(self) -> None:
        if self._client is None:
            self._client = _redis().from_url(self._url, health_check_interval=30)
            self._script = self._client.register_script(_ADD_ONCE)

    async def aclose(self) -> None:
        await self._batcher.aclose()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(self, record: SinkRecord) -> None:
        await self.start()
        await self._batcher.send(record)

    async def _send_batch(self, records: list[SinkRecord]) -> list[BaseException | None]:
        redis_asyncio = _redis()
        pipe = self._client.pipeline(transaction=False)
        for record in records:
            fields = ["message", record.body, "persistent_id", record.persistent_id or "",
                      "sender_id", record.sender_id or ""]  # fmt: skip
            window = self.dedup_window if record.persistent_id else 0
            seen = f"{self.stream}:seen:{record.persistent_id or ''}"
            await self._script(
                keys=[self.stream, seen], args=[window, self.maxlen, *fields], client=pipe
            )
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (redis_asyncio.RedisError, OSError) as exc:
            raise SinkError(f"Redis did not answer: {exc}") from exc
        finally:
            await pipe.reset()
        return [self._outcome(reply) for reply in replies]

    def _outcome(self, reply: Any) -> BaseException | None:
        if isinstance(reply, BaseException):
            return SinkError(f"Redis refused XADD to {self.stream!r}: {reply}")
        if reply is None:
            self.stats.duplicates += 1
        return None

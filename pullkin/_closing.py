"""``async with obj:`` that ends in ``await obj.aclose()``, for every closable class."""

from __future__ import annotations

from types import TracebackType

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """Leaving ``async with`` calls ``aclose()``, whatever happened inside."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

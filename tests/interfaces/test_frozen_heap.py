"""The node runtime's frozen startup heap (``kizuna node`` serves inside it)."""

from __future__ import annotations

import gc
import weakref

from kizuna.interfaces.cli.run import frozen_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_heap_keeps_startup_objects_out_of_collections_until_it_ends() -> None:
    startup = _Cycle()
    alive = weakref.ref(startup)
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        del startup  # garbage now, but frozen: no collection may walk or free it
        gc.collect()
        assert alive() is not None
        made_later = weakref.ref(_Cycle())  # not frozen: collected as usual
        gc.collect()
        assert made_later() is None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None

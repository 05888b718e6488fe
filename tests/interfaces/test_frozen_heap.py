"""The node runtime's frozen heap (``kizuna node`` serves inside it)."""

from __future__ import annotations

import asyncio
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


class _Leaf:
    """Not in any reference cycle: freed by its reference count alone."""


async def test_frozen_heap_freezes_what_lives_on_in_the_loop_and_frees_it_when_unreferenced() -> (
    None
):
    with frozen_heap(refreeze_s=0.05):
        cycle = _Cycle()
        held = weakref.ref(cycle)
        leaf = _Leaf()
        freed = weakref.ref(leaf)
        frozen_at_entry = gc.get_freeze_count()
        await asyncio.sleep(0.2)  # a few refreezes while they live
        assert gc.get_freeze_count() > frozen_at_entry
        del leaf  # frozen, but no reference left: freed at once, as without freezing
        assert freed() is None
        del cycle  # cyclic garbage made in the block and frozen: held until the block ends
        gc.collect()
        assert held() is not None
        made_now = weakref.ref(_Cycle())  # not yet frozen: collected as usual
        gc.collect()
        assert made_now() is None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert held() is None

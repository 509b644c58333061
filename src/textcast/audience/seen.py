"""A set of 64-bit keys in one flat array: what an import remembers of the
numbers and external IDs it has read, to report the ones a file repeats.

A Python set of integers costs about 60 bytes a key; a million-row import
keeps two million keys (its numbers and its external IDs), which was half of
the importing process's memory. Here a key costs 8 to 16 bytes: open
addressing with linear probing over an ``array('Q')``, grown at half full,
slots chosen by Fibonacci hashing so that neighbouring numbers spread out.
"""

from __future__ import annotations

from array import array

_EMPTY = 0  # a free slot; the key 0 itself is a flag of its own
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_GOLDEN = 0x9E37_79B9_7F4A_7C15  # 2^64 / the golden ratio


class KeySet:
    def __init__(self, bits: int = 16) -> None:
        self._slots = array("Q", bytes(8 << bits))
        self._shift = 64 - bits
        self._count = 0
        self._has_zero = False

    def __len__(self) -> int:
        return self._count

    def add(self, key: int) -> bool:
        """Add ``key`` (any integer, kept as 64 bits); False when it was there."""
        key &= _MASK64
        if key == _EMPTY:
            new, self._has_zero = not self._has_zero, True
            self._count += new
            return new
        slots = self._slots
        last = len(slots) - 1
        index = ((key * _GOLDEN) & _MASK64) >> self._shift
        while True:
            found = slots[index]
            if found == key:
                return False
            if found == _EMPTY:
                slots[index] = key
                self._count += 1
                if self._count * 2 > len(slots):
                    self._grow()
                return True
            index = index + 1 if index < last else 0

    def _grow(self) -> None:
        keys = [key for key in self._slots if key != _EMPTY]
        bits = 64 - self._shift + 1
        self._slots = array("Q", bytes(8 << bits))
        self._shift = 64 - bits
        self._count = int(self._has_zero)
        for key in keys:
            self.add(key)

"""Bulk loading of DataSketches sketches from NumPy arrays, for the profile's numeric columns.

DataSketches' Python binding feeds an HLL sketch one value per call (about 100 ns each: two
seconds for twenty columns of a million floats on a busy machine) and a KLL sketch one value
at a time inside C++ while holding the GIL. A profile spends most of its time there unless
the sketches are built the way DataSketches builds them internally, a whole array at a time:

- HLL: :func:`hll_registers` hashes 8-byte keys (float64 or int64) with DataSketches' own hash
  (MurmurHash3 x64/128, seed 9001, -0.0 folded into 0.0) into the same registers its
  ``update`` fills, in vectorised NumPy; :func:`hll_sketch` writes them as a serialized HLL_8
  sketch in HLL mode (the documented binary image) that DataSketches reads, unions and
  estimates like any other. The registers equal those of per-value updates bit for bit.
- KLL: :func:`kll_sketch` turns one sorted chunk into the sketch DataSketches' own
  ``general_compress`` makes of a level of that many sorted items (each level compacted once,
  keeping every other item from a random offset, bottom up until the sketch fits). One
  compaction of a sorted level moves any rank by at most one item of that level's weight, so
  a chunk of n values is summarised within 2n/k ranks at worst (1.6% for k = 128; about 0.4%
  measured on real data) with errors of random sign; merging the chunks' sketches is plain
  KLL merging, with its documented bound.

Sorting a chunk (vectorised, GIL released) and hashing it cost a few nanoseconds per value,
so columns can be profiled on several cores at once.
"""

from __future__ import annotations

import struct
from typing import Any

import datasketches as ds
import numpy as np

__all__ = ["hll_registers", "hll_sketch", "kll_sketch"]

_U = np.uint64
_C1, _C2 = _U(0x87C37B91114253D5), _U(0x4CF5AD432745937F)
_F1, _F2 = _U(0xFF51AFD7ED558CCD), _U(0xC4CEB9FE1A85EC53)
_SEED = 9001  # DataSketches' DEFAULT_UPDATE_SEED
_KEY_BYTES = 8
_BLOCK = 8_192  # keys hashed per pass: the buffers stay in the CPU cache
_HLL_HEADER = struct.Struct("<BBBBBBBBdddII")
_KLL_HEADER = struct.Struct("<BBBBHBBQHBB")
_KLL_M = 8  # DataSketches' minimum level width


def _fmix(h: np.ndarray, scratch: np.ndarray) -> None:
    """MurmurHash3's 64-bit finaliser, in place."""
    for multiplier in (_F1, _F2, None):
        np.right_shift(h, _U(33), out=scratch)
        h ^= scratch
        if multiplier is not None:
            h *= multiplier


def _murmur3(bits: np.ndarray, h1: np.ndarray, h2: np.ndarray, scratch: np.ndarray) -> None:
    """Both 64-bit halves of MurmurHash3_x64_128 of each 8-byte key, into ``h1`` and ``h2``
    (``scratch`` may be ``bits`` itself): with one 8-byte tail and no full block, h1 starts as
    seed ^ k1 and h2 as the seed."""
    np.multiply(bits, _C1, out=h1)
    np.right_shift(h1, _U(33), out=scratch)  # rotate left by 31
    h1 <<= _U(31)
    h1 |= scratch
    h1 *= _C2
    h1 ^= _U(_SEED ^ _KEY_BYTES)  # ^ seed, ^ length
    h1 += _U(_SEED ^ _KEY_BYTES)  # h1 += h2
    np.add(h1, _U(_SEED ^ _KEY_BYTES), out=h2)  # h2 += h1
    _fmix(h1, scratch)
    _fmix(h2, scratch)
    h1 += h2
    h2 += h1


def hll_registers(keys: np.ndarray, lg_k: int, out: np.ndarray | None = None) -> np.ndarray:
    """The HLL_8 registers (``2**lg_k`` bytes) that ``hll_sketch.update`` of every key would
    fill: the slot is the low ``lg_k`` bits of the hash's first half, the value one more than
    the leading zeros of its second half (at most 63). ``out`` is updated in place (maximum).

    Keys are float64 (-0.0 hashed as 0.0, as DataSketches does) or int64. The work runs on
    blocks of a few thousand keys in buffers allocated once, so that it stays in the CPU
    cache and never asks the allocator for memory it would map and unmap again."""
    if keys.dtype not in (np.float64, np.int64):
        raise TypeError(f"HLL keys must be float64 or int64, not {keys.dtype}")
    registers = np.zeros(1 << lg_k, np.uint8) if out is None else out
    keys = np.ascontiguousarray(keys).ravel()
    size = min(_BLOCK, keys.size)
    h1, h2, scratch = (np.empty(size, _U) for _ in range(3))
    top, values = np.empty(size, np.float64), np.empty(size, np.uint8)
    for start in range(0, keys.size, _BLOCK):
        block = keys[start : start + _BLOCK]
        n = block.size
        if keys.dtype == np.float64:
            bits = np.add(block, 0.0, out=scratch[:n].view(np.float64)).view(_U)  # -0.0 -> 0.0
        else:
            bits = block.view(_U)
        _murmur3(bits, h1[:n], h2[:n], scratch[:n])
        h1 &= _U((1 << lg_k) - 1)
        # the top 53 bits of h2 convert to a float exactly; its exponent gives their length
        np.right_shift(h2[:n], _U(11), out=scratch[:n])
        np.copyto(top[:n], scratch[:n], casting="unsafe")
        np.right_shift(top[:n].view(_U), _U(52), out=scratch[:n])
        np.subtract(_U(1076), scratch[:n], out=scratch[:n])  # 54 - length
        np.copyto(values[:n], scratch[:n], casting="unsafe")
        for at in np.flatnonzero(top[:n] == 0):  # top 53 bits all zero: once in 2**53 keys
            values[at] = min(64 - int(h2[at]).bit_length(), 62) + 1
        np.maximum.at(registers, h1[:n].view(np.int64), values[:n])
    return registers


def hll_sketch(registers: np.ndarray, lg_k: int) -> Any:
    """An HLL_8 sketch in HLL mode holding ``registers``: the serialized image DataSketches
    writes (preamble, the estimator's KxQ sums and zero count, the register bytes), flagged out
    of order so that it estimates with the composite estimator, as a union result does."""
    values = registers.astype(np.float64)
    inverse = np.exp2(-values)
    kxq0 = float(inverse[values < 32].sum())
    kxq1 = float(inverse[values >= 32].sum())
    header = _HLL_HEADER.pack(
        10,  # preamble ints of an HLL-mode image
        1,  # serial version
        7,  # family: HLL
        lg_k,
        0,  # no auxiliary array (HLL_8 needs none)
        16,  # flags: out of order
        0,  # current minimum register value (always 0 for HLL_8)
        2 | (2 << 2),  # mode HLL, target type HLL_8
        0.0,  # HIP accumulator: unused out of order
        kxq0,
        kxq1,
        int(np.count_nonzero(registers == 0)),
        0,
    )
    return ds.hll_sketch.deserialize(header + registers.astype(np.uint8).tobytes())


def _level_capacity(k: int, levels: int, height: int) -> int:
    """DataSketches' ``kll_helper::level_capacity``: about k * (2/3)**depth, at least 8."""
    depth = levels - height - 1
    return max(_KLL_M, int((2 * k << depth) // 3**depth + 1) >> 1)


def _total_capacity(k: int, levels: int) -> int:
    return sum(_level_capacity(k, levels, height) for height in range(levels))


def kll_sketch(ordered: np.ndarray, k: int, rng: np.random.Generator) -> Any:
    """A ``kll_doubles_sketch`` of the sorted float64 values ``ordered`` (at least two), built
    as ``general_compress`` compacts one sorted level: level h keeps its first item when its
    size is odd and passes every other remaining item (offset drawn from ``rng``) up, with
    twice the weight, while the sketch is over its capacity."""
    levels: list[np.ndarray] = [ordered]
    count, height = ordered.size, 0
    target = _total_capacity(k, 1)
    while height < len(levels):
        level = levels[height]
        if count >= target and level.size >= _level_capacity(k, len(levels), height):
            odd = level.size % 2
            pairs = level[odd:]
            levels[height] = level[:odd]
            if height == len(levels) - 1:
                levels.append(pairs[0:0])
                target += _level_capacity(k, len(levels), 0)
            # the level above is empty: DataSketches "halves up", keeping the odd or the even
            # positions of the pairs
            levels[height + 1] = pairs[1 - int(rng.integers(2)) :: 2]
            count -= levels[height + 1].size
        height += 1
    while levels[-1].size == 0:  # general_compress adds a level only when it fills it
        levels.pop()
    return _kll_image(ordered, levels, k)


def _kll_image(ordered: np.ndarray, levels: list[np.ndarray], k: int) -> Any:
    capacity = _total_capacity(k, len(levels))
    sizes = np.array([level.size for level in levels])
    retained = int(sizes.sum())
    offsets = capacity - retained + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    header = _KLL_HEADER.pack(
        5,  # preamble ints of a sketch with more than one item
        1,  # serial version
        15,  # family: KLL
        2,  # flags: level zero sorted
        k,
        _KLL_M,
        0,
        ordered.size,  # n: the weights of the levels add up to it
        k,  # min k (no merge with a smaller k yet)
        len(levels),
        0,
    )
    body = [
        offsets.astype("<u4").tobytes(),
        np.array([ordered[0], ordered[-1]], "<f8").tobytes(),
        *(level.astype("<f8").tobytes() for level in levels),
    ]
    return ds.kll_doubles_sketch.deserialize(header + b"".join(body))

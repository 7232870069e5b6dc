"""Randomness for privacy mechanisms: a ChaCha20 keystream keyed from the OS.

A DP guarantee assumes the adversary cannot predict the mechanism's coins. A Mersenne
Twister (``torch.Generator``, NumPy's legacy ``RandomState``) is not such a source: 624
consecutive outputs reveal its whole state, and from then on every later draw. DP-SGD's
noise, its Poisson sampling (amplification by subsampling assumes nobody knows who was
sampled) and the training/held-out split all draw from :class:`SecureRandom` instead.
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

_KEY_BYTES = 32
_NONCE = bytes(16)  # ChaCha20's 32-bit block counter (starting at 0) and a 96-bit nonce
_MANTISSA = np.uint64(64 - 53)
_ULP = 2.0**-53
_TWO_PI_32 = np.float32(2 * math.pi * 2.0**-32)


class SecureRandom:
    """Uniform and Gaussian draws from a ChaCha20 keystream (RFC 8439, via OpenSSL).

    The key comes from ``os.urandom``. ``seed`` derives it from a number instead, which is
    NOT secure: anyone who knows or guesses the seed recomputes every draw. It exists for
    reproducible tests and for an auditor's own simulations, never for a release.

    Every ``rekey_bytes`` of output the generator replaces its key with the next 32 bytes of
    its own keystream ("fast key erasure", Bernstein 2017): the 32-bit block counter never
    wraps, and a key read from memory reveals no draw made before its re-key. Make one per
    release and never copy it (a forked or unpickled copy would repeat its draws).
    """

    rekey_bytes = 1 << 30

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            key = os.urandom(_KEY_BYTES)
        else:
            key = hashlib.sha256(f"privet.SecureRandom seed {int(seed)}".encode()).digest()
        self.seeded = seed is not None
        self._start(key)

    def _start(self, key: bytes) -> None:
        self._stream = Cipher(algorithms.ChaCha20(key, _NONCE), mode=None).encryptor()
        self._left = self.rekey_bytes

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes of the keystream."""
        parts = []
        while n > self._left:
            parts.append(self._stream.update(bytes(self._left)))
            n -= self._left
            self._start(self._stream.update(bytes(_KEY_BYTES)))
        self._left -= n
        parts.append(self._stream.update(bytes(n)))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _words(self, n: int) -> np.ndarray:
        """``n`` independent integers, uniform on [0, 2^53)."""
        return np.frombuffer(self.bytes(8 * n), dtype="<u8") >> _MANTISSA

    def uniform(self, n: int) -> np.ndarray:
        """``n`` float64 draws, uniform on the 2^53 multiples of 2^-53 in [0, 1)."""
        return self._words(n) * _ULP

    def normal(self, n: int) -> np.ndarray:
        """``n`` float32 draws from N(0, 1) by Box–Muller.

        float32 is the precision of the gradients the noise is added to. The radius comes
        from a 53-bit uniform in (0, 1) (never 0: no draw is infinite; the tail is cut only
        beyond about 8.6, probability below 2^-53 per draw); the angle from a 32-bit one,
        more bits than a float32 angle holds.
        """
        pairs = (n + 1) // 2
        raw = self.bytes(12 * pairs)
        # 2k + 1 for k uniform on [0, 2^53): the midpoints of 2^53 equal cells of (0, 1).
        odd = np.frombuffer(raw, "<u8", pairs) >> np.uint64(10)
        odd |= np.uint64(1)
        radius = odd.astype(np.float32)
        radius *= np.float32(2.0**-54)
        np.log(radius, out=radius)
        radius *= np.float32(-2.0)
        np.sqrt(radius, out=radius)
        angle = np.frombuffer(raw, "<u4", pairs, offset=8 * pairs).astype(np.float32)
        angle *= _TWO_PI_32
        out = np.empty(2 * pairs, dtype=np.float32)
        np.multiply(radius, np.cos(angle), out=out[:pairs])
        np.multiply(radius, np.sin(angle), out=out[pairs:])
        return out[:n]

"""The certificate's layout typeset by Typst, in this process or in a process of its own.

Typst keeps what it computed in a cache of its process (it grows by about 100 MB for a certificate
of 5,000 names, up to its last ten documents), so the app typesets a certificate in a process
started for it ("spawn") and ended with it: the app's memory stays its own, and one certificate is
drawn at a time per app process, on one core. This module is what that process imports, so it
imports little: Typst and the fonts, not the app (whose import alone takes a second).
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import typst

from .. import fonts

FLYERS_DIR = Path(__file__).resolve().parent.parent.parent / "flyers"
LAYOUT = FLYERS_DIR / "certificate.typ"
# Certificates typeset at once by one app process, each in a process of its own.
DRAWING = threading.BoundedSemaphore(1)


def typeset(sys_inputs: dict[str, str]) -> bytes:
    """`flyers/certificate.typ` with `sys.inputs` (`{"certificate": JSON}`) -> the PDF, glyphs embedded."""
    compiler = typst.Compiler(root=str(FLYERS_DIR), font_paths=fonts.library().typst_fonts, ignore_system_fonts=True)
    out = compiler.compile(str(LAYOUT), format="pdf", sys_inputs=sys_inputs, timestamp=0)
    assert isinstance(out, bytes)
    return out


def typeset_in_a_process(sys_inputs: dict[str, str]) -> bytes:
    """`typeset` in a new process, waited for (blocking: call it from a thread). One at a time."""
    with DRAWING, ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(typeset, sys_inputs).result()

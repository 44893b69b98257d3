"""Files handed to a browser to save or open: their Content-Disposition header, and CSV bodies.

Every download goes through here, so no file name is ever pasted into a header and no cell
is ever pasted into a line: the header is encoded per RFC 6266 with werkzeug (quoted and
escaped, with an RFC 5987 `filename*` for a name that is not plain ASCII), and CSV is written
by the `csv` module, every text cell quoted (RFC 4180), with formulas neutralised whichever
separator a spreadsheet splits lines on.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal
from urllib.parse import quote

from werkzeug.http import dump_options_header

# What RFC 5987's attr-char allows unencoded besides letters and digits.
ATTR_CHARS = "!#$&+-.^_`|~"
# The ASCII fallback name keeps letters, digits and a few marks; anything else becomes "_".
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
# A spreadsheet takes a cell starting with one of these as a formula (or drops the tab or CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet set to another separator (";" in German or French Excel, or a tab) splits a
# cell of ours into several, and each piece that starts a formula is one: so a formula start
# after any separator or line break inside a cell (spaces between allowed) is neutralised too.
FORMULA_AFTER_SEPARATOR = re.compile(r"([,;\t\r\n][ ]*)([=+\-@])")


def disposition(kind: Literal["attachment", "inline"], filename: str) -> str:
    """(kind, a file name) -> a Content-Disposition value (RFC 6266): `filename` in plain ASCII,
    and `filename*` (RFC 5987, UTF-8) too when the name is anything else."""
    simple = UNSAFE_IN_NAME.sub("_", unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode())
    options = {"filename": simple or "download"}
    if simple != filename:
        options["filename*"] = "UTF-8''" + quote(filename, safe=ATTR_CHARS)
    return dump_options_header(kind, options)


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a browser save the answer as `filename`."""
    return {"content-disposition": disposition("attachment", filename)}


def inline(filename: str) -> dict[str, str]:
    """The header that lets a browser show the answer (a preview, an image, a feed), named `filename`
    when it is saved."""
    return {"content-disposition": disposition("inline", filename)}


def neutralised(cell: object) -> object:
    """A cell as a spreadsheet should show it, whichever separator (`,` `;` tab) it splits lines on:
    text that would start a formula, at its start or after a separator inside it, gets a leading '."""
    if not isinstance(cell, str):
        return cell
    cell = FORMULA_AFTER_SEPARATOR.sub(r"\1'\2", cell)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def as_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A header and rows -> CSV text (RFC 4180: CRLF lines), every text cell quoted and neutralised,
    numbers bare. Quoting every text cell keeps a comma, quote or line break inside its cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([neutralised(cell) for cell in header])
    writer.writerows([neutralised(cell) for cell in row] for row in rows)
    return out.getvalue()
